#!/usr/bin/python3
"""A GStreamer RTSP server with a synthetic H.264 test pattern, for the tests.

Usage: /usr/bin/python3 scripts/lib/rtsp_server.py PORT [--path /main] [--user U --password P [--auth digest|basic]]
Prints "ready PORT" on stdout once listening on 127.0.0.1:PORT.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/main")
    ap.add_argument("--user")
    ap.add_argument("--password", default="")
    ap.add_argument("--auth", choices=["digest", "basic"], default="digest")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=25)
    a = ap.parse_args()
    Gst.init(None)
    w, h = a.size.split("x")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={a.fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps} "
        f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        auth.add_digest(a.user, a.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST if a.auth == "digest" else GstRtsp.RTSPAuthMethod.BASIC)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role("user")
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print("failed to listen", file=sys.stderr)
        sys.exit(1)
    print(f"ready {a.port}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
