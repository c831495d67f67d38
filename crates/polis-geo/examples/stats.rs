use polis_domain::{Id, LatLon};
use polis_geo::{synthetic, CameraIndex, STATS};
use std::time::Instant;
fn main() {
    let c = LatLon::new(42.619, 25.393).unwrap();
    let m = Id::from_trusted("k");
    let cams = synthetic::cameras(100_000, 42, c, 6000.0, &m);
    let pts = synthetic::points(20_000, 7, c, 6000.0);
    let index = CameraIndex::from_cameras(&cams);
    for p in &pts {
        index.seeing(*p, None, 10);
    }
    let n = pts.len() as f64;
    let s: Vec<f64> = STATS.iter().map(|a| a.load(std::sync::atomic::Ordering::Relaxed) as f64 / n).collect();
    println!("tree cands {:.1}, survivors {:.1}, exact range-only {:.1}, exact full {:.1}", s[0], s[3], s[1], s[2]);
    let t = Instant::now();
    let mut k = 0;
    for p in &pts {
        k += index.within_radius(*p, 0.0, None, 10).len();
    }
    println!("within_radius(0) (tree walk + nothing) {:.2} us {k}", t.elapsed().as_secs_f64() * 1e6 / n);
    let t = Instant::now();
    for p in &pts {
        k += index.seeing(*p, None, 10).len();
    }
    println!("seeing {:.2} us {k}", t.elapsed().as_secs_f64() * 1e6 / n);
    let t = Instant::now();
    let mut s = 0.0;
    for (i, p) in pts.iter().enumerate() {
        s += polis_domain::geometry::distance_m(*p, cams[i].position);
    }
    println!("distance_m {:.3} us {s}", t.elapsed().as_secs_f64() * 1e6 / n);
}
