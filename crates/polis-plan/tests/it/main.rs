//! The planner against hand-made and seeded instances: demand building, DORI ranges, line of
//! sight, budgets and phases, the bound and the gap, and agreement with the exact optimum.

use polis_plan::coverage::{existing_counts, options};
use polis_plan::instance::{Candidate, DemandPoint, ExistingCamera, GivenOption, Instance, SiteDemand};
use polis_plan::model::{CameraModel, Dori};
use polis_plan::solve::TabuLimits;
use polis_plan::synthetic::{city, mclp, CitySize, Limit, MclpSize};
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
    Candidate { id: id.into(), name: String::new(), lon, lat, cost, models: vec![], mount_height_m: 4.0, slots: 1 }
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
        options: vec![],
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

/// The default path with a short tabu search (these tests check rules, not how good the plan is).
fn quick() -> PlanOptions<'static> {
    PlanOptions { tabu: Some(TabuLimits { stall: 300, ..Default::default() }), ..Default::default() }
}

#[test]
fn phases_are_nested_and_spend_within_their_budgets() {
    let inst = city(CitySize { candidates: 200, demand: 2000, buildings: true, phases: 3, cameras_per_phase: 10 }, 7);
    let p = inst.problem().expect("valid");
    let pl = plan(&p, &quick()).expect("plan");
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
        let pl = plan(&p, &PlanOptions { exact: None, lns: None, ..Default::default() }).expect("plan");
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
        let mip = exact::Mip::build(&p, &opts, &base, &[], Some(budget), None, &[], &Default::default())
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
        let fast = plan(&p, &PlanOptions { exact: None, lns: None, tabu: None, ..Default::default() }).expect("plan");
        let pl = plan(&p, &quick()).expect("plan");
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
        let pl = plan(&p, &PlanOptions { exact, ..quick() }).expect("plan");
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
    let pl = plan(&p, &quick()).expect("plan");
    for ph in &pl.phases {
        assert!(
            ph.cameras <= 2 && ph.spent <= ph.budget + 1e-9,
            "phase {}: {} cameras, {}",
            ph.phase,
            ph.cameras,
            ph.spent
        );
    }
    let free = plan(&inst_without_counts(&inst).problem().expect("valid"), &quick()).expect("plan");
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
    let pl = plan(&p, &PlanOptions { exact: None, lns: None, ..Default::default() }).expect("plan");
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
    let pl = plan(&p, &quick()).expect("plan");
    let g = polis_plan::report::geojson(&p, &pl);
    let f = g["features"].as_array().expect("features");
    assert_eq!(f.len(), pl.chosen.len());
    assert_eq!(
        f[0]["properties"]["place"],
        p.candidates.iter().find(|c| c.id == f[0]["properties"]["candidate"]).map_or("", |c| c.id.as_str())
    );
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

#[test]
fn a_mounting_point_with_slots_carries_several_cameras() {
    // One pole, points north and south of it: one camera cannot see both.
    let mut inst = base(
        vec![point("north", 0.0, 10.0, 1.0), point("south", 0.0, -10.0, 1.0)],
        vec![cand("pole", 0.0, 0.0, 50.0)],
        vec![1000.0],
    );
    inst.models[0].hfov_deg = 60.0;
    let one = plan(&inst.problem().expect("valid"), &PlanOptions::default()).expect("plan");
    assert_eq!((one.phases[0].cameras, one.phases[0].covered_weight), (1, 1.0), "one camera per pole by default");
    assert!(one.phases[0].upper_bound < 2.0 - 1e-6, "one slot bounds the coverage: {}", one.phases[0].upper_bound);
    inst.candidates[0].slots = 2;
    for exact in [None, Some(Default::default())] {
        let two = plan(&inst.problem().expect("valid"), &PlanOptions { exact, ..Default::default() }).expect("plan");
        let ph = &two.phases[0];
        assert_eq!((ph.cameras, ph.covered_weight), (2, 2.0), "two cameras on the pole");
        assert!(ph.upper_bound >= 2.0 - 1e-9, "the bound is for two slots: {}", ph.upper_bound);
        let headings: Vec<Option<f64>> = two.chosen.iter().map(|c| two.options[c.option].heading).collect();
        assert!(headings.contains(&Some(0.0)) && headings.contains(&Some(180.0)), "{headings:?}");
    }
    // A count of one camera still holds.
    inst.budgets.clear();
    inst.max_cameras = vec![1];
    let counted = plan(&inst.problem().expect("valid"), &PlanOptions::default()).expect("plan");
    assert_eq!(counted.phases[0].cameras, 1);
}

fn given(id: &str, candidate: &str, heading: Option<f64>, cost: Option<f64>, covers: &[&str]) -> GivenOption {
    GivenOption {
        id: id.into(),
        candidate: candidate.into(),
        model: "m".into(),
        heading,
        cost,
        covers: covers.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn options_given_with_their_coverage_are_planned_on_and_bad_ones_name_the_field() {
    // The geometry would see nothing (the points are far away); the given coverage counts.
    let mut inst = base(
        vec![point("a", 500.0, 0.0, 3.0), point("b", 600.0, 0.0, 2.0), point("c", 700.0, 0.0, 2.0)],
        vec![cand("p1", 0.0, 0.0, 100.0), cand("p2", 10.0, 0.0, 100.0)],
        vec![],
    );
    inst.sites = vec![SiteDemand {
        id: "square".into(),
        name: String::new(),
        priority: 1,
        sector: "safety".into(),
        point: Some([at(800.0, 0.0).0, at(800.0, 0.0).1]),
        polygon: None,
        spacing_m: None,
        critical: false,
    }];
    inst.max_cameras = vec![2];
    inst.options = vec![
        given("o1", "p1", Some(90.0), None, &["a"]),
        given("o2", "p1", Some(270.0), Some(50.0), &["b", "c"]),
        given("o3", "p2", Some(0.0), None, &["square"]),
        given("o4", "p2", Some(0.0), None, &[]),
    ];
    let p = inst.problem().expect("valid");
    let opts = options(&p);
    assert_eq!(opts.len(), 3, "an option that sees nothing is left out");
    assert_eq!((opts[0].cost, opts[1].cost), (200.0, 50.0), "the cost defaults to the pole's and the model's");
    assert_eq!(opts[2].covers.len(), 1, "a site's id stands for its points");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    let ph = &pl.phases[0];
    // The square (weight 5) and b + c (4), one camera per pole.
    assert_eq!(ph.cameras, 2);
    assert!((ph.covered_weight - 9.0).abs() < 1e-9, "covered {}", ph.covered_weight);
    assert!(ph.upper_bound >= 9.0 - 1e-9 && ph.gap < 1e-9, "bound {}", ph.upper_bound);
    let ids: Vec<&str> = pl.chosen.iter().filter_map(|c| pl.options[c.option].id.as_deref()).collect();
    assert!(ids.contains(&"o2") && ids.contains(&"o3"), "{ids:?}");
    let g = polis_plan::report::geojson(&p, &pl);
    assert!(g["features"].as_array().is_some_and(|f| f.iter().any(|f| f["properties"]["option"] == "o3")), "{g}");
    // Three cameras: still 9 with one slot per pole; with two slots on p1, every option.
    inst.max_cameras = vec![3];
    let pl = plan(&inst.problem().expect("valid"), &PlanOptions::default()).expect("plan");
    assert!((pl.phases[0].covered_weight - 9.0).abs() < 1e-9, "covered {}", pl.phases[0].covered_weight);
    inst.candidates[0].slots = 2;
    let pl = plan(&inst.problem().expect("valid"), &PlanOptions::default()).expect("plan");
    assert!((pl.phases[0].covered_weight - 12.0).abs() < 1e-9, "covered {}", pl.phases[0].covered_weight);

    let err = |i: &Instance| i.problem().expect_err("must be refused").details[0].field.clone();
    let with = |o: GivenOption| {
        let mut i = inst.clone();
        i.options.push(o);
        i
    };
    assert_eq!(err(&with(given("o1", "p1", Some(0.0), None, &["a"]))), "options[o1]");
    assert_eq!(err(&with(given("x", "nowhere", Some(0.0), None, &["a"]))), "options[x].candidate");
    assert_eq!(
        err(&with(GivenOption { model: "zoom".into(), ..given("x", "p1", Some(0.0), None, &["a"]) })),
        "options[x].model"
    );
    assert_eq!(err(&with(given("x", "p1", None, None, &["a"]))), "options[x].heading");
    assert_eq!(err(&with(given("x", "p1", Some(0.0), Some(-1.0), &["a"]))), "options[x].cost");
    assert_eq!(err(&with(given("x", "p1", Some(0.0), None, &["a", "zz"]))), "options[x].covers[1]");
    let mut i = inst.clone();
    i.candidates[1].slots = 0;
    assert_eq!(err(&i), "candidates[p2].slots");
    let mut i = inst.clone();
    i.budgets = vec![40.0];
    assert_eq!(err(&i), "budgets[0]", "below the cheapest given option");
    // The file format: `slots` and `options` as documented.
    let text = serde_json::to_string(&inst).expect("serialise");
    assert!(text.contains("\"slots\":2") && text.contains("\"covers\":[\"a\"]"), "{text}");
    assert_eq!(Instance::from_json(&text).expect("parse"), inst);
}

/// Small seeded cities of the maximal-covering kind: few enough options to enumerate.
fn tiny_mclp(seed: u64, slots: u32, limit: Limit, phases: usize) -> Instance {
    let size = MclpSize { demand: 40, sites: 4, models: 1, slots, limit, phases, per_phase: 2 };
    let mut inst = mclp(size, seed);
    // Four headings: 16 options at most.
    inst.options.retain(|o| o.heading.is_some_and(|h| (h / 90.0).fract() == 0.0));
    inst
}

#[test]
fn the_bound_is_at_least_the_optimum_with_slots_given_options_counts_budgets_and_phases() {
    let (mut fast_short, mut checked) = (0, 0);
    for seed in 0..12u64 {
        for (slots, limit) in [(2, Limit::Count), (3, Limit::Budget), (2, Limit::Budget), (1, Limit::Count)] {
            let inst = tiny_mclp(seed, slots, limit, 2);
            let p = inst.problem().expect("valid");
            for fast in [true, false] {
                let how = if fast { PlanOptions { exact: None, lns: None, ..quick() } } else { quick() };
                let pl = plan(&p, &how).expect("plan");
                let (mut money, mut count) = (0.0, 0usize);
                for ph in &pl.phases {
                    // The optimum of every plan within the phases' limits so far, without the
                    // nesting (so at least the best nested plan's).
                    money += ph.budget;
                    count += ph.max_cameras.unwrap_or(0);
                    let budget = money.is_finite().then_some(money);
                    let most = ph.max_cameras.map(|_| count);
                    let (opt, _) =
                        exact::optimum_within(&p, &pl.options, &pl.base_counts, budget, most, 40).expect("small");
                    let tag = format!("seed {seed}, {slots} slots, {limit:?}, phase {}, fast {fast}", ph.phase);
                    assert!(ph.upper_bound >= opt - 1e-9, "{tag}: bound {} below the optimum {opt}", ph.upper_bound);
                    assert!(
                        ph.covered_weight <= opt + 1e-9,
                        "{tag}: covered {} above the optimum {opt}",
                        ph.covered_weight
                    );
                    assert!(ph.gap >= 0.0 && ph.upper_bound <= ph.total_weight + 1e-9, "{tag}");
                    if ph.phase == 1 {
                        if !fast {
                            assert!((ph.covered_weight - opt).abs() < 1e-6, "{tag}: the exact path finds the optimum");
                        } else if ph.covered_weight < opt - 1e-9 {
                            fast_short += 1;
                        }
                    }
                    checked += 1;
                }
                // Slots hold: no option twice, no pole over its slots.
                let mut per: std::collections::HashMap<usize, u32> = Default::default();
                let mut seen = std::collections::HashSet::new();
                for c in &pl.chosen {
                    assert!(seen.insert(c.option), "an option chosen twice");
                    *per.entry(pl.options[c.option].candidate).or_default() += 1;
                }
                assert!(per.values().all(|&n| n <= slots), "seed {seed}: {per:?}");
            }
        }
    }
    assert_eq!(checked, 12 * 4 * 2 * 2);
    eprintln!("the fast path missed the phase-1 optimum on {fast_short} instances");
}

#[test]
fn the_integer_program_with_slots_finds_the_enumerated_optimum() {
    for seed in 0..10u64 {
        for limit in [Limit::Count, Limit::Budget] {
            let p = tiny_mclp(seed, 3, limit, 1).problem().expect("valid");
            let opts = options(&p);
            let base = existing_counts(&p);
            let (budget, count) = (p.budgets[0].is_finite().then_some(p.budgets[0]), p.max_cameras[0]);
            let (opt, _) = exact::optimum_within(&p, &opts, &base, budget, count, 40).expect("small enough");
            let mip = exact::Mip::build(&p, &opts, &base, &[], budget, count, &[], &Default::default())
                .expect("small enough");
            let answer = mip.solve(&p, &opts, &base).expect("an answer");
            assert!(answer.optimal && (answer.value - opt).abs() < 1e-6, "seed {seed}: {} against {opt}", answer.value);
            let mut per: std::collections::HashMap<usize, u32> = Default::default();
            for &k in &answer.chosen {
                *per.entry(opts[k].candidate).or_default() += 1;
            }
            assert!(per.values().all(|&n| n <= 3));
            // The program as written for CBC has the pole rows of the slots.
            let lp = polis_plan::lp::write_within(&p, &opts, &base, budget, count);
            assert!(lp.contains(if count.is_some() { " count:" } else { " budget:" }), "{lp}");
        }
    }
}

/// A plain greedy (no laziness, no local search): the largest gain (per cost when money limits)
/// that fits, until nothing does; ties to the lowest option.
fn plain_greedy(p: &polis_plan::instance::Problem, opts: &[polis_plan::coverage::Opt], base: &[u8]) -> f64 {
    let (budget, count) = (p.budgets[0], p.max_cameras[0].unwrap_or(usize::MAX));
    let mut counts = base.to_vec();
    let mut slots: Vec<u32> = p.candidates.iter().map(|c| c.slots).collect();
    let mut on = vec![false; opts.len()];
    let (mut left, mut n) = (budget, 0);
    while n < count {
        let mut best: Option<(usize, f64)> = None;
        for (k, o) in opts.iter().enumerate() {
            if on[k] || slots[o.candidate] == 0 || o.cost > left {
                continue;
            }
            let gain: f64 = o
                .covers
                .iter()
                .filter(|&&i| counts[i as usize] < p.demand[i as usize].required)
                .map(|&i| p.demand[i as usize].weight / f64::from(p.demand[i as usize].required))
                .sum();
            let key = if budget.is_finite() { gain / o.cost.max(1e-9) } else { gain };
            if gain > 0.0 && best.is_none_or(|(_, b)| key > b) {
                best = Some((k, key));
            }
        }
        let Some((k, _)) = best else { break };
        on[k] = true;
        slots[opts[k].candidate] -= 1;
        left -= opts[k].cost;
        n += 1;
        for &i in &opts[k].covers {
            counts[i as usize] += 1;
        }
    }
    polis_plan::solve::covered(p, &counts)
}

#[test]
fn with_several_slots_the_plan_is_never_below_a_plain_greedy() {
    for seed in 0..6u64 {
        for limit in [Limit::Count, Limit::Budget] {
            let size = MclpSize { demand: 600, sites: 40, models: 3, slots: 3, limit, phases: 1, per_phase: 12 };
            let p = mclp(size, seed).problem().expect("valid");
            let tabu = Some(TabuLimits { stall: 200, ..Default::default() });
            let pl = plan(&p, &PlanOptions { exact: None, lns: None, tabu, ..Default::default() }).expect("plan");
            let greedy = plain_greedy(&p, &pl.options, &pl.base_counts);
            let ph = &pl.phases[0];
            assert!(
                ph.covered_weight >= greedy - 1e-9,
                "seed {seed}, {limit:?}: {} below the greedy's {greedy}",
                ph.covered_weight
            );
            assert!(ph.upper_bound >= ph.covered_weight && ph.gap < 0.25, "seed {seed}: gap {}", ph.gap);
            let per_pole = pl.chosen.iter().fold(std::collections::HashMap::<usize, u32>::new(), |mut m, c| {
                *m.entry(pl.options[c.option].candidate).or_default() += 1;
                m
            });
            assert!(per_pole.values().all(|&n| n <= 3));
        }
    }
}

/// Whether a phase keeps its rules: money, count, each option once, the slots.
fn keeps_the_rules(p: &polis_plan::instance::Problem, pl: &polis_plan::Plan) {
    let ph = &pl.phases[0];
    assert!(ph.spent <= ph.budget + 1e-6, "spends {} of {}", ph.spent, ph.budget);
    assert!(ph.max_cameras.is_none_or(|n| ph.cameras <= n));
    let mut per: std::collections::HashMap<usize, u32> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for c in &pl.chosen {
        assert!(seen.insert(c.option), "an option chosen twice");
        *per.entry(pl.options[c.option].candidate).or_default() += 1;
    }
    assert!(per.iter().all(|(c, n)| *n <= p.candidates[*c].slots), "{per:?}");
}

#[test]
fn the_tabu_search_never_loses_to_the_local_search_and_finds_better_plans() {
    let (mut won, mut n) = (0, 0);
    for seed in 0..3u64 {
        for limit in [Limit::Count, Limit::Budget] {
            let size = MclpSize { demand: 500, sites: 50, models: 3, slots: 2, limit, phases: 1, per_phase: 8 };
            let p = mclp(size, seed).problem().expect("valid");
            let local =
                plan(&p, &PlanOptions { exact: None, lns: None, tabu: None, ..Default::default() }).expect("plan");
            let tabu = Some(TabuLimits { stall: 300, ..Default::default() });
            let pl = plan(&p, &PlanOptions { exact: None, lns: None, tabu, ..Default::default() }).expect("plan");
            keeps_the_rules(&p, &pl);
            let (a, b) = (local.phases[0].covered_weight, pl.phases[0].covered_weight);
            assert!(b >= a - 1e-9, "seed {seed}, {limit:?}: tabu {b} below the local search's {a}");
            assert!(pl.phases[0].upper_bound >= b - 1e-9);
            // The coverage reported is the coverage of the cameras chosen.
            let chosen: Vec<usize> = pl.chosen.iter().map(|c| c.option).collect();
            let v = exact::value_with(&p, &pl.options, &pl.base_counts, &chosen);
            assert!((v - b).abs() < 1e-6, "reported {b}, the cameras cover {v}");
            won += usize::from(b > a + 1e-9);
            n += 1;
        }
    }
    eprintln!("the tabu search improved {won} of {n} plans");
    assert!(won >= 2, "the tabu search improved {won} of {n} plans");
}

#[test]
fn the_reports_maps_show_the_plans_extent_with_the_key_sites_named() {
    let site = |id: &str, name: &str, x: f64, y: f64| {
        let (lon, lat) = at(x, y);
        SiteDemand {
            id: id.into(),
            name: name.into(),
            priority: 1,
            sector: "safety".into(),
            point: Some([lon, lat]),
            polygon: None,
            spacing_m: None,
            critical: false,
        }
    };
    let mut inst = base(vec![], vec![cand("pole", 0.0, -8.0, 50.0)], vec![200.0]);
    inst.sites = vec![site("levski", "Levski school", 0.0, 0.0), site("dam", "Koprinka dam", 3000.0, 2000.0)];
    let p = inst.problem().expect("valid");
    let pl = plan(&p, &PlanOptions::default()).expect("plan");
    assert_eq!(pl.chosen.len(), 1, "one camera, at the school");
    let html = polis_plan::report::html(&p, &pl);
    // The school is on both maps, by name; the dam, 3.6 km away, is outside them and said so.
    assert_eq!(html.matches(">Levski school</text>").count(), 2, "{html}");
    assert!(!html.contains(">Koprinka dam</text>"), "the maps are not zoomed to the plan");
    assert!(html.contains("Key places outside the maps / Извън картите: Koprinka dam."), "{html}");
    // The camera's view fills the map instead of a dot in a city-wide square.
    let svg = &html[html.find("<svg").expect("a map")..];
    let path = &svg[svg.find("<path d=\"M").expect("the camera's view")..];
    let arc: f64 =
        path["<path d=\"M".len()..].split(['L', ',', 'A']).nth(4).and_then(|v| v.parse().ok()).expect("radius");
    assert!(arc > 100.0, "the camera's reach is drawn {arc} px wide");
}
