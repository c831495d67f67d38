//! `polis plan`: plans the camera network of the demo city's scenario or of an instance file and
//! writes `plan.geojson`, `summary.json` and `report.html` into the output directory. The files
//! are written into a temporary directory beside it and moved into place at the end, so a failed
//! or cancelled run leaves no half-written plan.

use anyhow::{bail, Context};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct PlanArgs {
    pub scenario: Option<String>,
    pub input: Option<PathBuf>,
    pub phases: usize,
    pub budget: f64,
    pub out: PathBuf,
    pub local_search: bool,
}

fn load(args: &PlanArgs) -> anyhow::Result<polis_plan::Instance> {
    match (&args.scenario, &args.input) {
        (Some(s), None) if s == "demo" => {
            if !(1..=10).contains(&args.phases) {
                bail!("--phases: must be from 1 to 10");
            }
            Ok(polis_core::plan::demo_scenario(args.phases, args.budget))
        }
        (Some(s), None) => bail!("--scenario: unknown scenario {s:?}; the one built in is \"demo\""),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            polis_plan::Instance::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))
        }
        _ => bail!("give either --scenario demo or --input FILE.json"),
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
        let progress = |stage: &str, share: f64| {
            eprint!("\r  {stage:<10} {:>3.0}%", share * 100.0);
            let _ = std::io::stderr().flush();
        };
        let opts = polis_plan::PlanOptions { local_search, progress: Some(&progress), cancel: Some(&flag) };
        let plan = polis_plan::plan(&problem, &opts);
        eprintln!();
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
        println!(
            "phase {}: {} cameras for {:.0} of {:.0}; covered {:.1}% of the weight (bound {:.1}%, gap {:.2}%)",
            ph.phase,
            ph.cameras,
            ph.spent,
            ph.budget,
            100.0 * ph.covered_weight / ph.total_weight.max(1e-12),
            100.0 * ph.upper_bound / ph.total_weight.max(1e-12),
            100.0 * ph.gap
        );
    }
    println!("wrote {} in {:.1} s", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}
