//! The planner against hand-made and seeded instances: demand building, DORI ranges, line of
//! sight, budgets and phases, the bound and the gap, and agreement with the exact optimum.

use polis_plan::coverage::{existing_counts, options};
use polis_plan::instance::{Candidate, DemandPoint, ExistingCamera, Instance, SiteDemand};
use polis_plan::model::{CameraModel, Dori};
use polis_plan::synthetic::{city, CitySize};
use polis_plan::{exact, plan, PlanOptions};

const LON: f64 = 25.393;
const LAT: f64 = 42.619;
/// Degrees per metre, roughly, at Kazanlak.
const DLAT: f64 = 1.0 / 111_195.0;
const DLON: f64 = 1.0 / (111_195.0 * 0.7364);

fn at(x: f64, y: f64) -> (f64, f64) {
    (LON + x * DLON, LAT + y * DLAT)
}

fn model(id: &str, hfov: f64, px: u32, ptz: bool, cost: f64) -> CameraModel {
    CameraModel { id: id.into(), hfov_deg: hfov, h_pixels: px, ptz, cost }
}

fn point(id: &str, x: f64, y: f64, w: f64) -> DemandPoint {
    let (lon, lat) = at(x, y);
    DemandPoint { id: id.into(), lon, lat, weight: w, sector: Some("safety".into()), required: 1 }
}

fn cand(id: &str, x: f64, y: f64, cost: f64) -> Candidate {
    let (lon, lat) = at(x, y);
    Candidate { id: id.into(), lon, lat, cost, models: vec![], mount_height_m: 4.0 }
}

fn base(demand: Vec<DemandPoint>, candidates: Vec<Candidate>, budgets: Vec<f64>) -> Instance {
    Instance {
        name: "test".into(),
        purpose: Dori::Observe,
        headings: 8,
        area: None,
        demand,
        sites: vec![],
        sector_weights: Default::default(),
        candidates,
        // 960 px per metre of distance at 90 degrees: 15.5 m at observe.
        models: vec![model("m", 90.0, 1920, false, 100.0)],
        existing: vec![],
        buildings: vec![],
        budgets,
        max_cameras: vec![],
    }
}

#[test]
fn a_fixed_camera_sees_its_sector_within_its_dori_range_and_not_its_blind_disc() {
    let inst = base(
        vec![
            point("north-10", 0.0, 10.0, 1.0),
            point("north-20", 0.0, 20.0, 1.0),
            point("east-10", 10.0, 0.0, 1.0),
            point("foot", 0.0, 1.0, 1.0),
        ],
        vec![cand("c", 0.0, 0.0, 0.0)],
        vec![100.0],
    );
    let p = inst.problem().expect("valid");
    let opts = options(&p);
    let north = opts.iter().find(|o| o.heading == Some(0.0)).expect("a north option");
    let ids: Vec<&str> = north.covers.iter().map(|&i| p.demand[i as usize].id.as_str()).collect();
    assert_eq!(ids, ["north-10"], "15.5 m reach, 90° sector, blind within 2 m of a 4 m mount");
    let east = opts.iter().find(|o| o.heading == Some(90.0)).expect("an east option");
    assert_eq!(east.covers.len(), 1);
}

#[test]
fn buildings_block_the_view_but_not_the_one_the_point_is_in() {
    let mut inst = base(
        vec![point("behind", 0.0, 12.0, 1.0), point("clear", 8.0, 8.0, 1.0)],
        vec![cand("c", 0.0, 0.0, 0.0)],
        vec![100.0],
    );
    let wall: Vec<[f64; 2]> = [(-3.0, 5.0), (3.0, 5.0), (3.0, 7.0), (-3.0, 7.0)]
        .iter()
        .map(|(x, y)| {
            let (lon, lat) = at(*x, *y);
            [lon, lat]
        })
        .collect();
    inst.buildings = vec![wall];
    inst.headings = 4;
    let p = inst.problem().expect("valid");
    let seen: Vec<&str> =
        options(&p).iter().flat_map(|o| o.covers.iter().map(|&i| p.demand[i as usize].id.as_str())).collect();
    assert!(!seen.contains(&"behind"), "the wall hides it: {seen:?}");
    assert!(seen.contains(&"clear"));
}

#[test]
fn existing_cameras_count_and_ptz_covers_a_circle() {
    let mut inst = base(
        vec![point("a", 0.0, 10.0, 1.0), point("b", 0.0, -10.0, 1.0)],
        vec![cand("c", 0.0, 0.0, 0.0)],
        vec![2000.0],
    );
    let (lon, lat) = at(0.0, 0.0);
    inst.existing = vec![ExistingCamera {
        id: "old".into(),
        lon,
        lat,
        heading_deg: 0.0,
        hfov_deg: 60.0,
        range_m: 30.0,
        ptz: false,
    }];
    inst.models.push(model("dome", 60.0, 1920, true, 1000.0));
    let p = inst.problem().expect("valid");
    assert_eq!(existing_counts(&p), vec![1, 0]);
    let ptz = options(&p).into_iter().find(|o| o.heading.is_none()).expect("a PTZ option");
    assert_eq!(ptz.covers.len(), 2, "the dome sees all around");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    assert_eq!(pl.base_covered, 1.0);
    assert_eq!(pl.phases[0].covered_weight, 2.0);
}

#[test]
fn sites_become_weighted_demand_and_critical_sites_need_two_cameras() {
    let mut inst = base(vec![], vec![cand("c", 0.0, 0.0, 0.0), cand("d", 0.0, 30.0, 0.0)], vec![300.0]);
    let sq = |x0: f64, y0: f64, s: f64| -> Vec<[f64; 2]> {
        [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s)]
            .iter()
            .map(|(x, y)| {
                let (lon, lat) = at(*x, *y);
                [lon, lat]
            })
            .collect()
    };
    inst.sites = vec![
        SiteDemand {
            id: "school".into(),
            name: String::new(),
            priority: 1,
            sector: "safety".into(),
            point: None,
            polygon: Some(sq(-5.0, 10.0, 10.0)),
            spacing_m: Some(5.0),
            critical: true,
        },
        SiteDemand {
            id: "kiosk".into(),
            name: String::new(),
            priority: 5,
            sector: "tourism".into(),
            point: Some([LON, LAT + 15.0 * DLAT]),
            polygon: None,
            spacing_m: None,
            critical: false,
        },
    ];
    inst.sector_weights.insert("safety".into(), 2.0);
    let p = inst.problem().expect("valid");
    let school: Vec<_> = p.demand.iter().filter(|d| d.site.as_deref() == Some("school")).collect();
    assert!(school.len() >= 4, "sampled inside the polygon: {}", school.len());
    let total: f64 = school.iter().map(|d| d.weight).sum();
    assert!((total - 5.0 * 2.0).abs() < 1e-9, "priority 1 -> 5, times the sector's 2, shared among its points");
    assert!(school.iter().all(|d| d.required == 2));
    // One camera covers the school half; two (from the two poles) cover it fully.
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    assert!(pl.phases[0].cameras == 2 && pl.phases[0].gap >= 0.0);
}

#[test]
fn bad_input_names_the_item() {
    let ok = base(vec![point("a", 0.0, 10.0, 1.0)], vec![cand("c", 0.0, 0.0, 50.0)], vec![1000.0]);
    let err = |i: &Instance| i.problem().expect_err("must be refused");
    let mut i = ok.clone();
    i.budgets = vec![1000.0, 20.0];
    let e = err(&i);
    assert!(e.details[0].field == "budgets[1]" && e.message.contains("cheapest"), "{e:?}");
    let mut i = ok.clone();
    i.models[0].h_pixels = 0;
    assert_eq!(err(&i).details[0].field, "models[m].h_pixels");
    let mut i = ok.clone();
    i.area = Some(vec![[LON + 0.01, LAT + 0.01], [LON + 0.02, LAT + 0.01], [LON + 0.02, LAT + 0.02]]);
    assert_eq!(err(&i).details[0].field, "candidates[c]");
    let mut i = ok.clone();
    i.buildings = vec![vec![[LON, LAT], [LON + 0.001, LAT + 0.001], [LON + 0.001, LAT], [LON, LAT + 0.001]]];
    let e = err(&i);
    assert!(e.details[0].field == "buildings[0]" && e.message.contains("intersects itself"), "{e:?}");
    let mut i = ok.clone();
    // A C-shaped site whose sampling grid misses it.
    let c: Vec<[f64; 2]> =
        [(0.0, 0.0), (9.0, 0.0), (9.0, 1.0), (1.0, 1.0), (1.0, 8.0), (9.0, 8.0), (9.0, 9.0), (0.0, 9.0)]
            .iter()
            .map(|(x, y)| {
                let (lon, lat) = at(*x, *y);
                [lon, lat]
            })
            .collect();
    i.sites = vec![SiteDemand {
        id: "c-shape".into(),
        name: String::new(),
        priority: 3,
        sector: "x".into(),
        point: None,
        polygon: Some(c),
        spacing_m: Some(50.0),
        critical: false,
    }];
    assert_eq!(err(&i).details[0].field, "sites[c-shape]");
    assert!(Instance::from_json("{\"candidates\": 3}").is_err());
}

#[test]
fn phases_are_nested_and_spend_within_their_budgets() {
    let inst = city(CitySize { candidates: 200, demand: 2000, buildings: true, phases: 3, cameras_per_phase: 10 }, 7);
    let p = inst.problem().expect("valid");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    assert_eq!(pl.phases.len(), 3);
    let mut last = pl.base_covered;
    for ph in &pl.phases {
        assert!(ph.spent <= ph.budget + 1e-9, "phase {} spent {} of {}", ph.phase, ph.spent, ph.budget);
        assert!(ph.covered_weight >= last, "coverage never falls");
        assert!(ph.upper_bound >= ph.covered_weight - 1e-9 && ph.upper_bound <= ph.total_weight + 1e-9);
        assert!((0.0..1.0).contains(&ph.gap));
        last = ph.covered_weight;
    }
    // Earlier phases' cameras stay: every phase's choices are in the plan once, one per pole.
    let mut poles: Vec<usize> = pl.chosen.iter().map(|c| pl.options[c.option].candidate).collect();
    let n = poles.len();
    poles.sort();
    poles.dedup();
    assert_eq!(poles.len(), n, "one camera per mounting point");
    // Within a phase, cameras come in order of value.
    for ph in 1..=3 {
        let gains: Vec<f64> = pl.chosen.iter().filter(|c| c.phase == ph).map(|c| c.gain).collect();
        assert!(gains.windows(2).all(|w| w[0] >= w[1] - 1e-9), "phase {ph}: {gains:?}");
    }
}

#[test]
fn the_fast_path_is_near_the_exact_optimum_and_the_bound_holds_on_small_instances() {
    let mut equal = 0;
    for seed in 0..20 {
        let mut inst =
            city(CitySize { candidates: 6, demand: 120, buildings: false, phases: 1, cameras_per_phase: 2 }, seed);
        inst.headings = 4;
        inst.models.truncate(1);
        let p = inst.problem().expect("valid");
        let pl = plan(&p, &PlanOptions { exact: None, ..Default::default() }).expect("plan");
        let ph = &pl.phases[0];
        let (opt, _) = exact::optimum(&p, &pl.options, &pl.base_counts, ph.budget, 30).expect("small enough");
        assert!(ph.covered_weight <= opt + 1e-9, "seed {seed}: the plan beats the optimum?");
        assert!(ph.upper_bound >= opt - 1e-9, "seed {seed}: the bound {} is below the optimum {opt}", ph.upper_bound);
        assert!(ph.covered_weight >= 0.9 * opt, "seed {seed}: {} against {opt}", ph.covered_weight);
        if (ph.covered_weight - opt).abs() < 1e-9 {
            equal += 1;
        }
    }
    assert!(equal >= 15, "the fast path found the optimum on only {equal} of 20");
}

/// Small seeded instances with one phase: few enough options to enumerate.
fn small(seed: u64, models: usize) -> polis_plan::instance::Problem {
    let mut inst = city(
        CitySize { candidates: 6, demand: 120, buildings: seed.is_multiple_of(2), phases: 1, cameras_per_phase: 2 },
        seed,
    );
    inst.headings = 4;
    inst.models.truncate(models);
    inst.problem().expect("valid")
}

#[test]
fn the_integer_program_finds_the_enumerated_optimum() {
    for seed in 0..20 {
        let p = small(seed, 1);
        let opts = options(&p);
        let base = existing_counts(&p);
        let budget = p.budgets[0];
        let (opt, _) = exact::optimum(&p, &opts, &base, budget, 30).expect("small enough");
        let used = vec![false; p.candidates.len()];
        let mip = exact::Mip::build(&p, &opts, &base, &used, Some(budget), None, &[], &Default::default())
            .expect("small enough");
        let answer = mip.solve(&p, &opts, &base).expect("an answer");
        assert!(answer.optimal, "seed {seed}: not proven optimal");
        assert!((answer.value - opt).abs() < 1e-6, "seed {seed}: the program gives {} against {opt}", answer.value);
        let spent: f64 = answer.chosen.iter().map(|&k| opts[k].cost).sum();
        assert!(spent <= budget + 1e-9, "seed {seed}: spends {spent} of {budget}");
        let mut poles: Vec<usize> = answer.chosen.iter().map(|&k| opts[k].candidate).collect();
        poles.sort();
        poles.dedup();
        assert_eq!(poles.len(), answer.chosen.len(), "seed {seed}: one camera per pole");
    }
}

#[test]
fn a_plan_solved_exactly_reaches_the_optimum_with_no_gap() {
    let mut fast_short = 0;
    for seed in 0..20 {
        // Two models: the fast path misses the optimum on some of these.
        let p = small(seed, 2);
        let fast = plan(&p, &PlanOptions { exact: None, ..Default::default() }).expect("plan");
        let pl = plan(&p, &PlanOptions::default()).expect("plan");
        let ph = &pl.phases[0];
        let (opt, _) = exact::optimum(&p, &pl.options, &pl.base_counts, ph.budget, 60).expect("small enough");
        assert!((ph.covered_weight - opt).abs() < 1e-6, "seed {seed}: {} against the optimum {opt}", ph.covered_weight);
        assert!(
            (ph.upper_bound - opt).abs() < 1e-6 && ph.gap < 1e-9,
            "seed {seed}: bound {}, gap {}",
            ph.upper_bound,
            ph.gap
        );
        assert!(ph.spent <= ph.budget + 1e-9);
        if fast.phases[0].covered_weight < opt - 1e-6 {
            fast_short += 1;
        }
    }
    // Else this test would not show that the exact path is what finds the optimum.
    assert!(fast_short > 0, "the fast path alone found every optimum");
}

#[test]
fn a_count_of_cameras_limits_a_phase_instead_of_or_besides_money() {
    let mut inst = city(CitySize { candidates: 80, demand: 800, buildings: true, phases: 2, cameras_per_phase: 6 }, 5);
    // A count alone: no money limit.
    let money = inst.budgets.clone();
    inst.budgets.clear();
    inst.max_cameras = vec![3, 2];
    let p = inst.problem().expect("valid");
    assert!(p.budgets.iter().all(|b| b.is_infinite()) && p.max_cameras == vec![Some(3), Some(2)]);
    for exact in [None, Some(Default::default())] {
        let pl = plan(&p, &PlanOptions { exact, ..Default::default() }).expect("plan");
        assert_eq!((pl.phases[0].cameras, pl.phases[1].cameras), (3, 2), "a count alone is spent in full");
        for ph in &pl.phases {
            assert!(ph.upper_bound >= ph.covered_weight - 1e-9 && (0.0..1.0).contains(&ph.gap));
        }
        let s = polis_plan::report::summary(&p, &pl);
        assert!(s["phases"][0]["budget"].is_null() && s["phases"][0]["max_cameras"] == 3, "{}", s["phases"][0]);
    }
    // Both: money and a count; the tighter one holds.
    inst.budgets = money;
    inst.max_cameras = vec![2, 2];
    let p = inst.problem().expect("valid");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    for ph in &pl.phases {
        assert!(
            ph.cameras <= 2 && ph.spent <= ph.budget + 1e-9,
            "phase {}: {} cameras, {}",
            ph.phase,
            ph.cameras,
            ph.spent
        );
    }
    let free = plan(&inst_without_counts(&inst).problem().expect("valid"), &PlanOptions::default()).expect("plan");
    assert!(free.phases[0].cameras > 2, "money alone buys more than the count allows");
    // The bound of a count: one camera seeing one point, five points, a count of two.
    let mut tiny = base(
        (0..5).map(|i| point(&format!("p{i}"), 10.0 * f64::from(i) - 20.0, 12.0, 1.0)).collect(),
        vec![cand("c1", -20.0, 0.0, 0.0), cand("c2", 0.0, 0.0, 0.0), cand("c3", 20.0, 0.0, 0.0)],
        vec![],
    );
    tiny.models[0].hfov_deg = 10.0;
    tiny.headings = 36;
    tiny.max_cameras = vec![2];
    let p = tiny.problem().expect("valid");
    let pl = plan(&p, &PlanOptions { exact: None, ..Default::default() }).expect("plan");
    assert_eq!(pl.phases[0].cameras, 2);
    assert!(pl.phases[0].upper_bound < 5.0 - 1e-6, "the count bounds the coverage: {}", pl.phases[0].upper_bound);
}

fn inst_without_counts(i: &Instance) -> Instance {
    Instance { max_cameras: vec![], ..i.clone() }
}

#[test]
fn bad_counts_and_existing_cameras_name_the_item() {
    let ok = base(vec![point("a", 0.0, 10.0, 1.0)], vec![cand("c", 0.0, 0.0, 50.0)], vec![1000.0]);
    let err = |i: &Instance| i.problem().expect_err("must be refused");
    let mut i = ok.clone();
    i.max_cameras = vec![1, 2];
    assert_eq!(err(&i).details[0].field, "max_cameras");
    let mut i = ok.clone();
    i.budgets.clear();
    i.max_cameras = vec![0];
    assert_eq!(err(&i).details[0].field, "max_cameras[0]");
    let mut i = ok.clone();
    i.budgets.clear();
    assert_eq!(err(&i).details[0].field, "budgets");
    let (lon, lat) = at(0.0, 0.0);
    let cam =
        ExistingCamera { id: "old".into(), lon, lat, heading_deg: 0.0, hfov_deg: 60.0, range_m: 30.0, ptz: false };
    for (bad, field) in [
        (ExistingCamera { range_m: 0.0, ..cam.clone() }, "existing[old].range_m"),
        (ExistingCamera { range_m: f64::NAN, ..cam.clone() }, "existing[old].range_m"),
        (ExistingCamera { hfov_deg: 0.0, ..cam.clone() }, "existing[old].hfov_deg"),
        (ExistingCamera { hfov_deg: 400.0, ..cam.clone() }, "existing[old].hfov_deg"),
    ] {
        let mut i = ok.clone();
        i.existing = vec![bad];
        assert_eq!(err(&i).details[0].field, field);
    }
    let mut i = ok.clone();
    i.existing = vec![cam];
    assert!(i.problem().is_ok());
}

#[test]
fn a_cancelled_plan_stops() {
    let inst = city(CitySize { candidates: 100, demand: 500, buildings: false, phases: 2, cameras_per_phase: 5 }, 1);
    let p = inst.problem().expect("valid");
    let cancel = std::sync::atomic::AtomicBool::new(true);
    assert!(plan(&p, &PlanOptions { cancel: Some(&cancel), ..Default::default() }).is_none());
}

#[test]
fn the_report_and_geojson_describe_the_plan() {
    let inst = city(CitySize { candidates: 60, demand: 400, buildings: true, phases: 2, cameras_per_phase: 4 }, 3);
    let p = inst.problem().expect("valid");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    let g = polis_plan::report::geojson(&p, &pl);
    let f = g["features"].as_array().expect("features");
    assert_eq!(f.len(), pl.chosen.len());
    for k in ["phase", "heading", "model", "gain"] {
        assert!(f[0]["properties"].get(k).is_some(), "{k}");
    }
    let s = polis_plan::report::summary(&p, &pl);
    for k in ["covered_weight", "total_weight", "upper_bound", "gap"] {
        assert!(s["phases"][1][k].is_number(), "{k}: {s}");
    }
    let html = polis_plan::report::html(&p, &pl);
    assert!(html.contains("<svg") && html.contains("phase") && !html.contains("<script") && !html.contains("http"));
}
