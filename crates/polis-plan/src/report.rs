//! What a plan produces: GeoJSON of the new cameras, a summary per phase, coverage per site and
//! sector, and a self-contained HTML report (inline SVG maps and charts, no scripts, no fonts
//! from anywhere: it opens offline and can be published as it is).

use crate::instance::{Frame, Problem};
use crate::solve::Plan;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One feature per new camera: `phase`, `heading` (degrees, null for PTZ), `model`, `gain`,
/// `candidate`, `place` (the candidate's name, else its id), `cost`, `option` (the given
/// option's id; null when computed).
pub fn geojson(p: &Problem, plan: &Plan) -> Value {
    let frame = Frame::new(p.origin);
    let features: Vec<Value> = plan
        .chosen
        .iter()
        .enumerate()
        .map(|(rank, c)| {
            let o = &plan.options[c.option];
            let cand = &p.candidates[o.candidate];
            let m = &p.models[o.model];
            json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": frame.lonlat(cand.x, cand.y)},
                "properties": {
                    "rank": rank + 1, "phase": c.phase, "candidate": cand.id, "place": cand.name, "model": m.id, "ptz": m.ptz,
                    "heading": o.heading, "hfov_deg": m.hfov_deg, "reach_m": round1(m.reach_m(p.purpose)),
                    "gain": round3(c.gain), "cost": o.cost, "sees": o.covers.len(), "option": o.id,
                }
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Covered and total weight by a key (sector or site) for `counts`.
fn by_key(p: &Problem, counts: &[u8], key: impl Fn(usize) -> Option<String>) -> BTreeMap<String, (f64, f64)> {
    let mut m: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (i, d) in p.demand.iter().enumerate() {
        if let Some(k) = key(i) {
            let e = m.entry(k).or_default();
            e.0 += d.weight * f64::from(counts[i].min(d.required)) / f64::from(d.required);
            e.1 += d.weight;
        }
    }
    m
}

fn shares(m: &BTreeMap<String, (f64, f64)>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, (c, t))| (k.clone(), json!({"covered": round3(*c), "total": round3(*t), "share": if *t > 0.0 { round3(c / t) } else { 0.0 }})))
            .collect(),
    )
}

/// The summary: per phase `covered_weight`, `total_weight`, `upper_bound`, `gap`, the budget
/// (`null` when only a count limits the phase), `max_cameras`, the spending, and coverage per sector and per site before and after.
pub fn summary(p: &Problem, plan: &Plan) -> Value {
    let sector = |i: usize| Some(p.demand[i].sector.clone());
    let site = |i: usize| p.demand[i].site.clone();
    json!({
        "name": p.name,
        "purpose": format!("{:?}", p.purpose).to_lowercase(),
        "demand_points": p.demand.len(),
        "candidates": p.candidates.len(),
        "options": plan.options.len(),
        "total_weight": round3(plan.total_weight),
        "before": {
            "covered_weight": round3(plan.base_covered),
            "sectors": shares(&by_key(p, &plan.base_counts, sector)),
            "sites": shares(&by_key(p, &plan.base_counts, site)),
        },
        "phases": plan.phases.iter().map(|ph| json!({
            "phase": ph.phase, "budget": ph.budget.is_finite().then_some(ph.budget), "max_cameras": ph.max_cameras,
            "spent": ph.spent, "cameras": ph.cameras,
            "covered_weight": round3(ph.covered_weight), "total_weight": round3(ph.total_weight),
            "upper_bound": round3(ph.upper_bound), "gap": (ph.gap * 1e6).round() / 1e6,
            "sectors": shares(&by_key(p, &ph.counts, sector)),
            "sites": shares(&by_key(p, &ph.counts, site)),
        })).collect::<Vec<_>>(),
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const PHASE_COLOURS: [&str; 6] = ["#f0883e", "#3fb950", "#a371f7", "#58a6ff", "#db61a2", "#d29922"];

/// The part of the city the maps show: the new cameras with their reach (the plan's extent),
/// or every demand point and candidate when the plan adds no camera.
fn extent(p: &Problem, plan: &Plan) -> (f64, f64, f64, f64) {
    let grow = |b: (f64, f64, f64, f64), x: f64, y: f64, r: f64| {
        (b.0.min(x - r), b.1.min(y - r), b.2.max(x + r), b.3.max(y + r))
    };
    let mut b = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for c in &plan.chosen {
        let o = &plan.options[c.option];
        let cand = &p.candidates[o.candidate];
        b = grow(b, cand.x, cand.y, p.models[o.model].reach_m(p.purpose));
        // Given coverage may reach farther than the model's range.
        for &i in &o.covers {
            let d = &p.demand[i as usize];
            b = grow(b, d.x, d.y, 0.0);
        }
    }
    if !b.0.is_finite() {
        for d in &p.demand {
            b = grow(b, d.x, d.y, 0.0);
        }
        for c in &p.candidates {
            b = grow(b, c.x, c.y, 0.0);
        }
    }
    b
}

/// The key sites with a name, at the mean of their demand points: (name, x, y).
fn site_labels(p: &Problem) -> Vec<(String, f64, f64)> {
    let mut at: std::collections::BTreeMap<&str, (f64, f64, f64)> = std::collections::BTreeMap::new();
    for d in &p.demand {
        if let Some(s) = &d.site {
            let e = at.entry(s.as_str()).or_insert((0.0, 0.0, 0.0));
            *e = (e.0 + d.x, e.1 + d.y, e.2 + 1.0);
        }
    }
    at.into_iter()
        .map(|(id, (x, y, n))| (p.site_names.get(id).cloned().unwrap_or_else(|| id.to_string()), x / n, y / n))
        .collect()
}

/// One map of the plan's extent (see `extent`): demand points coloured by whether `counts` sees
/// them enough, the cameras, and the key sites named.
fn map_svg(p: &Problem, plan: &Plan, counts: &[u8], upto_phase: usize) -> String {
    let (x0, y0, x1, y1) = extent(p, plan);
    let w = 460.0;
    let scale = (w - 20.0) / (x1 - x0).max(1.0);
    // As tall as the extent is (within reason), so that a wide plan is not drawn in a square.
    let h = (20.0 + (y1 - y0).max(1.0) * scale).clamp(160.0, 620.0);
    let scale = scale.min((h - 20.0) / (y1 - y0).max(1.0));
    let px = |x: f64| 10.0 + (x - x0) * scale;
    let py = |y: f64| h - 10.0 - (y - y0) * scale;
    let mut s = format!("<svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\"><rect width=\"{w}\" height=\"{h}\" fill=\"#0d1117\"/>");
    for b in &p.buildings {
        let pts: Vec<String> = b.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
        let _ = write!(s, "<polygon points=\"{}\" fill=\"#30363d\"/>", pts.join(" "));
    }
    // At most about 6,000 points are drawn (every k-th), so the report stays small.
    let every = (p.demand.len() / 6000).max(1);
    for (i, d) in p.demand.iter().enumerate().step_by(every) {
        let ok = counts[i] >= d.required;
        let part = counts[i] > 0;
        let fill = if ok {
            "#3fb950"
        } else if part {
            "#d29922"
        } else {
            "#f85149"
        };
        let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\" fill=\"{fill}\"/>", px(d.x), py(d.y));
    }
    for c in plan.chosen.iter().filter(|c| c.phase <= upto_phase) {
        let o = &plan.options[c.option];
        let cand = &p.candidates[o.candidate];
        let colour = PHASE_COLOURS[(c.phase - 1) % PHASE_COLOURS.len()];
        let (cx, cy) = (px(cand.x), py(cand.y));
        let m = &p.models[o.model];
        let r = m.reach_m(p.purpose) * scale;
        match o.heading {
            None => {
                let _ = write!(s, "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r:.1}\" fill=\"{colour}\" fill-opacity=\"0.12\" stroke=\"{colour}\"/>");
            }
            Some(hd) => {
                let a0 = (hd - m.hfov_deg / 2.0).to_radians();
                let a1 = (hd + m.hfov_deg / 2.0).to_radians();
                let _ = write!(
                    s,
                    "<path d=\"M{cx:.1},{cy:.1}L{:.1},{:.1}A{r:.1},{r:.1} 0 0 1 {:.1},{:.1}Z\" fill=\"{colour}\" fill-opacity=\"0.18\" stroke=\"{colour}\"/>",
                    cx + r * a0.sin(),
                    cy - r * a0.cos(),
                    cx + r * a1.sin(),
                    cy - r * a1.cos()
                );
            }
        }
        let _ = write!(s, "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{colour}\" stroke=\"#fff\"/>");
    }
    // The key sites on the map, named (at most 40).
    let inside = |x: f64, y: f64| (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
    for (name, x, y) in site_labels(p).into_iter().filter(|(_, x, y)| inside(*x, *y)).take(40) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"site-label\" font-size=\"11\" fill=\"#e6edf3\" stroke=\"#0d1117\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            px(x) + 5.0,
            py(y) - 5.0,
            esc(&name)
        );
    }
    s.push_str("</svg>");
    s
}

/// The HTML report, in English and Bulgarian.
pub fn html(p: &Problem, plan: &Plan) -> String {
    let mut s = String::new();
    let title = if p.name.is_empty() { "Camera network plan" } else { &p.name };
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font:14px system-ui,sans-serif;background:#0d1117;color:#e6edf3;margin:24px;max-width:1000px}}\
         h1,h2{{font-weight:600}} table{{border-collapse:collapse;margin:8px 0}} td,th{{border-bottom:1px solid #30363d;padding:4px 8px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}} .maps{{display:flex;gap:16px;flex-wrap:wrap}} .muted{{color:#8b949e}}\
         .bar{{display:inline-block;height:10px;background:#3fb950}} svg{{max-width:100%;height:auto}}</style></head><body>",
        t = esc(title)
    );
    let _ = write!(s, "<h1>{} <span class=\"muted\">/ План за видеонаблюдение</span></h1>", esc(title));
    let _ = write!(
        s,
        "<p>{} demand points ({} key places), {} candidate mounting points, {} options tried. \
         Purpose: {:?}. Covered weight counts each place by its priority and sector weight; critical places need two cameras.</p>",
        p.demand.len(),
        p.demand.iter().filter_map(|d| d.site.as_ref()).collect::<std::collections::BTreeSet<_>>().len(),
        p.candidates.len(),
        plan.options.len(),
        p.purpose
    );
    s.push_str("<h2>Phases / Етапи</h2><table><tr><th>phase / етап</th><th>budget</th><th>spent</th><th>cameras</th><th>covered</th><th>upper bound</th><th>gap</th></tr>");
    let _ = write!(
        s,
        "<tr><td>today / днес</td><td></td><td></td><td></td><td>{:.1}% </td><td></td><td></td></tr>",
        100.0 * plan.base_covered / plan.total_weight.max(1e-12)
    );
    for ph in &plan.phases {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.2}%</td></tr>",
            ph.phase,
            if ph.budget.is_finite() { format!("{:.0}", ph.budget) } else { "—".into() },
            ph.spent,
            ph.cameras,
            ph.max_cameras.map(|n| format!(" / {n}")).unwrap_or_default(),
            100.0 * ph.covered_weight / ph.total_weight.max(1e-12),
            100.0 * ph.upper_bound / ph.total_weight.max(1e-12),
            100.0 * ph.gap
        );
    }
    s.push_str("</table>");
    s.push_str("<h2>Coverage before and after / Покритие преди и след</h2><div class=\"maps\">");
    let _ =
        write!(s, "<figure>{}<figcaption>today / днес</figcaption></figure>", map_svg(p, plan, &plan.base_counts, 0));
    if let Some(last) = plan.phases.last() {
        let _ = write!(
            s,
            "<figure>{}<figcaption>after phase {} / след етап {}</figcaption></figure>",
            map_svg(p, plan, &last.counts, last.phase),
            last.phase,
            last.phase
        );
    }
    s.push_str("</div><p class=\"muted\">green: watched as required; amber: by fewer cameras than required; red: not watched. Camera colours by phase. The maps show the new cameras' reach.");
    let (x0, y0, x1, y1) = extent(p, plan);
    let outside: Vec<String> = site_labels(p)
        .into_iter()
        .filter(|(_, x, y)| !((x0..=x1).contains(x) && (y0..=y1).contains(y)))
        .map(|(name, _, _)| esc(&name))
        .collect();
    if !outside.is_empty() {
        let _ = write!(s, " Key places outside the maps / Извън картите: {}.", outside.join(", "));
    }
    s.push_str("</p>");
    s.push_str("<h2>By sector / По сектори</h2><table><tr><th>sector</th><th>today</th>");
    for ph in &plan.phases {
        let _ = write!(s, "<th>phase {}</th>", ph.phase);
    }
    s.push_str("</tr>");
    let sector = |i: usize| Some(p.demand[i].sector.clone());
    let before = by_key(p, &plan.base_counts, sector);
    let after: Vec<_> = plan.phases.iter().map(|ph| by_key(p, &ph.counts, sector)).collect();
    for (k, (c, t)) in &before {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td>", esc(k), bar(*c, *t));
        for a in &after {
            let (c, t) = a.get(k).copied().unwrap_or_default();
            let _ = write!(s, "<td>{}</td>", bar(c, t));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table><h2>Cameras in order of value / Камери по стойност</h2><table><tr><th>#</th><th>phase</th><th>place</th><th>model</th><th>heading</th><th>gain</th><th>cost</th></tr>");
    for (n, c) in plan.chosen.iter().enumerate() {
        let o = &plan.options[c.option];
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.0}</td></tr>",
            n + 1,
            c.phase,
            esc(&p.candidates[o.candidate].name),
            esc(&p.models[o.model].id),
            o.heading.map_or("PTZ".to_string(), |h| format!("{h:.0}°")),
            c.gain,
            o.cost
        );
    }
    s.push_str("</table><p class=\"muted\">Made by Polis. The upper bound is proven: no plan within the same budget covers more.</p></body></html>");
    s
}

fn bar(c: f64, t: f64) -> String {
    let share = if t > 0.0 { c / t } else { 0.0 };
    format!("<span class=\"bar\" style=\"width:{:.0}px\"></span> {:.0}%", 60.0 * share, 100.0 * share)
}
