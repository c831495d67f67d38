//! `polis plan`: plans the camera network of the demo city's scenario or of an instance file and
//! writes `plan.geojson`, `summary.json` and `report.html` into the output directory. The files
//! are written into a temporary directory beside it and moved into place at the end, so a failed
//! or cancelled run leaves no half-written plan.

use anyhow::{bail, Context};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

pub struct PlanArgs {
    pub scenario: Option<String>,
    pub input: Option<PathBuf>,
    pub phases: usize,
    /// The demo scenario's budget per phase (`None`: 15000, or no money limit with `cameras`).
    pub budget: Option<f64>,
    /// The demo scenario's most new cameras per phase.
    pub cameras: Option<u32>,
    pub out: PathBuf,
    pub local_search: bool,
}

fn load(args: &PlanArgs) -> anyhow::Result<polis_plan::Instance> {
    match (&args.scenario, &args.input) {
        (Some(s), None) if s == "demo" => {
            if !(1..=10).contains(&args.phases) {
                bail!("--phases: must be from 1 to 10");
            }
            if args.budget.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
                bail!("--budget: must be a positive number");
            }
            if args.cameras == Some(0) {
                bail!("--cameras: must be 1 or more");
            }
            let mut inst = polis_core::plan::demo_scenario(args.phases, args.budget.unwrap_or(15_000.0));
            if let Some(n) = args.cameras {
                inst.max_cameras = vec![n; args.phases];
                if args.budget.is_none() {
                    inst.budgets.clear();
                }
            }
            Ok(inst)
        }
        (Some(s), None) => bail!("--scenario: unknown scenario {s:?}; the one built in is \"demo\""),
        (None, Some(_)) if args.budget.is_some() || args.cameras.is_some() => {
            bail!("--budget and --cameras are for --scenario; an input file gives its own budgets and max_cameras")
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            polis_plan::Instance::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))
        }
        _ => bail!("give either --scenario demo or --input FILE.json"),
    }
}

/// The planner's progress on stderr: a bar redrawn in place on a terminal, plain lines
/// otherwise (a line when a stage starts and every 25% of it).
struct Bar {
    tty: bool,
    /// The stage and the whole percent last shown.
    last: Mutex<(String, i64)>,
}

impl Bar {
    const WIDTH: usize = 30;

    fn new(tty: bool) -> Bar {
        Bar { tty, last: Mutex::new((String::new(), -1)) }
    }

    fn label(stage: &str) -> &str {
        match stage {
            "coverage" => "what each camera sees",
            "phase" => "choosing cameras",
            "exact" => "solving exactly",
            "bound" => "proving the bound",
            other => other,
        }
    }

    fn show(&self, stage: &str, share: f64) {
        let pct = (share.clamp(0.0, 1.0) * 100.0).floor() as i64;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let new_stage = last.0 != stage;
        if !new_stage && (pct == last.1 || (!self.tty && pct / 25 == last.1 / 25)) {
            return;
        }
        *last = (stage.to_string(), pct);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = (pct as usize * Self::WIDTH) / 100;
            let _ = write!(
                err,
                "\r  [{}{}] {pct:>3}%  {:<24}",
                "#".repeat(filled),
                "-".repeat(Self::WIDTH - filled),
                Self::label(stage)
            );
        } else {
            let _ = writeln!(err, "  {} {pct}%", Self::label(stage));
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
}

pub async fn run(args: PlanArgs) -> anyhow::Result<()> {
    let instance = load(&args)?;
    let problem = instance.problem().map_err(|e| {
        let field = e.details.first().map(|d| d.field.clone()).unwrap_or_default();
        anyhow::anyhow!("the instance is not valid: {field}: {}", e.message)
    })?;
    let cancel = Arc::new(AtomicBool::new(false));
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.store(true, Ordering::Relaxed);
        }
    });
    eprintln!(
        "planning {} demand points, {} candidates, {} phases",
        problem.demand.len(),
        problem.candidates.len(),
        problem.budgets.len()
    );
    let started = std::time::Instant::now();
    let flag = cancel.clone();
    let local_search = args.local_search;
    let (problem, plan) = tokio::task::spawn_blocking(move || {
        let bar = Bar::new(std::io::stderr().is_terminal());
        let progress = |stage: &str, share: f64| bar.show(stage, share);
        let opts = polis_plan::PlanOptions {
            local_search,
            progress: Some(&progress),
            cancel: Some(&flag),
            ..Default::default()
        };
        let plan = polis_plan::plan(&problem, &opts);
        bar.finish();
        (problem, plan)
    })
    .await?;
    let Some(plan) = plan else {
        bail!("cancelled: nothing written");
    };
    // Write beside the target, then move into place.
    let out = &args.out;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.partial-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("plan"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = (|| -> anyhow::Result<()> {
        write(&tmp, "plan.geojson", &serde_json::to_string_pretty(&polis_plan::report::geojson(&problem, &plan))?)?;
        write(&tmp, "summary.json", &serde_json::to_string_pretty(&polis_plan::report::summary(&problem, &plan))?)?;
        write(&tmp, "report.html", &polis_plan::report::html(&problem, &plan))?;
        if cancel.load(Ordering::Relaxed) {
            bail!("cancelled: nothing written");
        }
        if out.exists() {
            std::fs::remove_dir_all(out).with_context(|| format!("replacing {}", out.display()))?;
        }
        std::fs::rename(&tmp, out).with_context(|| format!("moving the plan to {}", out.display()))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    for ph in &plan.phases {
        let limit = match (ph.budget.is_finite(), ph.max_cameras) {
            (true, Some(n)) => format!("{:.0} of {:.0}, at most {n} cameras", ph.spent, ph.budget),
            (true, None) => format!("{:.0} of {:.0}", ph.spent, ph.budget),
            (false, n) => format!("{:.0}, at most {} cameras", ph.spent, n.unwrap_or(0)),
        };
        println!(
            "phase {}: {} cameras for {limit}; covered {:.1}% of the weight (bound {:.1}%, gap {:.2}%)",
            ph.phase,
            ph.cameras,
            100.0 * ph.covered_weight / ph.total_weight.max(1e-12),
            100.0 * ph.upper_bound / ph.total_weight.max(1e-12),
            100.0 * ph.gap
        );
    }
    println!("wrote {} in {:.1} s", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}
