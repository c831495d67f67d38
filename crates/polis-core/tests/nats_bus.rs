//! The JetStream engine of the event bus against real `nats-server` processes on loopback: the
//! bus contract on one server, and a three-server cluster that loses a server under load
//! without losing or repeating an acknowledged event.
//!
//! Needs Debian's `nats-server` (installed by `scripts/test`); `POLIS_TEST_NATS_SERVER` may name
//! the binary. Without it the tests fail when `POLIS_REQUIRE_NATS` is set, as the test command
//! does, and are skipped with a message otherwise.

use polis_core::bus::{contract, Delivery, EventBus, Subscription};
use polis_core::live::LiveEvent;
use polis_core::nats_bus::{NatsBus, NatsOptions};
use polis_domain::Id;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn server_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("POLIS_TEST_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = PathBuf::from(dir).join("nats-server");
        if p.exists() {
            return Some(p);
        }
    }
    if std::env::var_os("POLIS_REQUIRE_NATS").is_some() {
        panic!("nats-server not found (install Debian's nats-server or set POLIS_TEST_NATS_SERVER)");
    }
    eprintln!("skipped: nats-server not found");
    None
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A `nats-server` process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

fn start(bin: &PathBuf, port: u16, cluster: Option<(&str, u16, &[u16])>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(bin);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]).arg(dir.path());
    if let Some((name, cport, routes)) = cluster {
        let routes: Vec<String> = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
        cmd.args(["--server_name", name, "--cluster_name", "polis-test"])
            .args(["--cluster", &format!("nats://127.0.0.1:{cport}")])
            .args(["--routes", &routes.join(",")]);
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start nats-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port, _dir: dir }
}

fn options(url: String, stream: &str, retain: usize, replicas: usize) -> NatsOptions {
    NatsOptions {
        url,
        stream: stream.to_string(),
        subject_prefix: format!("polis.{}", stream.to_lowercase()),
        retain,
        replicas,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jetstream_bus_keeps_the_contract() {
    let Some(bin) = server_binary() else { return };
    let server = start(&bin, free_port(), None);
    let url = server.url();
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    contract::run_all(|retain| {
        let url = url.clone();
        let n = n.clone();
        async move {
            // A fresh, empty bus for every contract test: a stream of its own.
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let bus = NatsBus::<LiveEvent>::connect(&options(url, &format!("CONTRACT{i}"), retain, 1))
                .await
                .expect("connect to nats-server");
            Arc::new(bus) as Arc<dyn EventBus<LiveEvent>>
        }
    })
    .await;
}

async fn next_event(sub: &mut Subscription<LiveEvent>) -> (u64, u32) {
    match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
        Ok(Some(Delivery::Event(e))) => match &e.event {
            LiveEvent::Observation(o) => (e.id, o.value() as u32),
            other => panic!("not a test event: {other:?}"),
        },
        Ok(Some(Delivery::Gap { last_id })) => panic!("unexpected gap after {last_id}"),
        Ok(None) => panic!("subscription ended"),
        Err(_) => panic!("no event within 30 s"),
    }
}

/// A region's bus on three servers: one dies (SIGKILL) while events are published; every
/// acknowledged event reaches a subscriber on another server once, in order, and a console that
/// resumes from an id on a surviving server gets exactly what came after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_region_loses_no_event_when_a_server_dies() {
    let Some(bin) = server_binary() else { return };
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let cports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut servers: Vec<Option<Server>> = (0..3)
        .map(|i| {
            let others: Vec<u16> = cports.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| *p).collect();
            Some(start(&bin, ports[i], Some((&format!("n{i}"), cports[i], &others))))
        })
        .collect();
    let all: Vec<String> = ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
    // The cluster elects its JetStream leader after start: connecting retries until it has one.
    let connect = |url: String| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match NatsBus::<LiveEvent>::connect(&options(url.clone(), "REGION", 10_000, 3)).await {
                Ok(b) => return b,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    eprintln!("waiting for the cluster: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("cluster not ready: {e}"),
            }
        }
    };
    // The publisher talks to server 0 first (it fails over to the others), the console to server 2.
    let publisher = Arc::new(connect(format!("{},{},{}", all[0], all[1], all[2])).await);
    let console = connect(format!("{},{}", all[2], all[1])).await;
    let mut sub = console.subscribe(None).await.expect("subscribe");

    let total = 600u32;
    let mut acked = Vec::new();
    for n in 0..total {
        if n == 200 {
            // SIGKILL server 0 (the publisher's) mid-load.
            if let Some(mut s) = servers[0].take() {
                let _ = s.child.kill();
                let _ = s.child.wait();
            }
        }
        let event = contract::event(n);
        match publisher.publish(Some(Id::from_trusted("kazanlak")), event).await {
            Ok(id) => acked.push((id, n)),
            Err(e) => eprintln!("publish {n} not acknowledged: {e}"),
        }
    }
    assert!(acked.len() as u32 >= total - 5, "too few acknowledged: {} of {total}", acked.len());
    assert!(acked.windows(2).all(|w| w[0].0 < w[1].0), "ids must increase");

    let mut got = Vec::new();
    while got.len() < acked.len() {
        got.push(next_event(&mut sub).await);
    }
    assert_eq!(got, acked, "every acknowledged event, once, in order");

    // A console resuming on a surviving server after event 299 gets 300.. exactly.
    let (resume_id, _) = acked.iter().copied().find(|(_, n)| *n == 299).expect("event 299 acknowledged");
    let again = connect(all[1].clone()).await;
    let mut resumed = again.subscribe(Some(resume_id)).await.expect("resume");
    let tail: Vec<(u64, u32)> = acked.iter().copied().filter(|(id, _)| *id > resume_id).collect();
    let mut got = Vec::new();
    while got.len() < tail.len() {
        got.push(next_event(&mut resumed).await);
    }
    assert_eq!(got, tail);
    drop(servers);
}
