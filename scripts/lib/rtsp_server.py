#!/usr/bin/python3
"""A GStreamer RTSP server with a synthetic H.264 test pattern, for the tests and benchmarks.

Usage: /usr/bin/python3 scripts/lib/rtsp_server.py PORT [--path /main] [--user U --password P [--auth digest|basic]]
           [--size WxH] [--fps N] [--bitrate KBIT] [--codec h264|h265] [--file clip.mp4]
           [--bframes N] [--vfr]
With --file, an H.264 MP4 is served as it is (no re-encoding: for benchmarks with many 1080p
streams), paced in real time, from its start for each client. Without it, a live test pattern is
encoded with x264 (or x265 with --codec h265; at --bitrate kbit/s if given) once for all clients.
--bframes N encodes H.264 Main profile with N B-frames (as many real cameras send; frames then
arrive out of presentation order). --vfr makes the frame rate variable: of every ten frames of
--fps, frames 3, 4 and 7 are dropped before encoding (7 of 10 are sent, 1 to 3 intervals apart).
Prints "ready PORT" on stdout once listening on 127.0.0.1:PORT.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def drop_frames(_factory, media):
    """Drops frames 3, 4 and 7 of every ten before the encoder: a variable frame rate."""
    gate = media.get_element().get_by_name("gate")
    count = [0]

    def probe(_pad, _info):
        n = count[0] % 10
        count[0] += 1
        return Gst.PadProbeReturn.DROP if n in (3, 4, 7) else Gst.PadProbeReturn.OK

    gate.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/main")
    ap.add_argument("--user")
    ap.add_argument("--password", default="")
    ap.add_argument("--auth", choices=["digest", "basic"], default="digest")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--bitrate", type=int, help="kbit/s of the encoded test pattern")
    ap.add_argument("--file", help="an H.264 MP4 to serve without re-encoding")
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264", help="of the test pattern")
    ap.add_argument("--bframes", type=int, default=0, help="B-frames of the H.264 test pattern (Main profile)")
    ap.add_argument("--vfr", action="store_true", help="drop frames 3, 4 and 7 of every ten")
    a = ap.parse_args()
    Gst.init(None)
    w, h = a.size.split("x")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    if a.file:
        factory.set_launch(
            f"( filesrc location=\"{a.file}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    elif a.codec == "h265":
        rate = f" bitrate={a.bitrate}" if a.bitrate else ""
        factory.set_launch(
            f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={a.fps}/1 "
            f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps}{rate} "
            f"! video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 config-interval=1 )"
        )
    else:
        rate = f" bitrate={a.bitrate} vbv-buf-capacity=1000" if a.bitrate else ""
        if a.bframes:
            # No zero-latency tuning: it would turn B-frames off.
            enc = f"x264enc speed-preset=ultrafast bframes={a.bframes} b-adapt=false key-int-max={a.fps}{rate} "
            enc += "! video/x-h264,profile=main "
        else:
            enc = f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps}{rate} "
        factory.set_launch(
            f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={a.fps}/1 "
            f"! identity name=gate ! {enc}! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        if a.vfr:
            factory.connect("media-configure", drop_frames)
    # A live pattern is encoded once for every client; a file is cheap to send, so each client
    # gets its own pipeline (a non-live source shared by clients joining at different times stalls).
    factory.set_shared(not a.file)
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
