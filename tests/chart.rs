//! The GitHub summary's chart as a person sees it: the summaries of a deploy and of a release,
//! made in-process from real runs on virtual time, their Mermaid rendered by the pinned Mermaid
//! 11 (the library GitHub renders with) in Debian's headless Chromium, on a light and a dark
//! page. It must render without error, draw each line in its own color on a real time axis, and
//! those colors must stand out on both backgrounds. Screenshots are kept as artifacts in
//! `target/chart-artifacts/`. `tests/chart/setup.sh` installs Chromium and Mermaid.

mod fake;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fake::{Fake, deploy, deploy_release, fire_alarm_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::github::chart;
use sfndeploy::report::github::summary::summary;
use sfndeploy::signals::Signals;

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chart-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium, once `tests/chart/setup.sh` has installed it and Mermaid.
fn chromium() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chart/setup.sh");
    let out = Command::new("bash").arg(&script).output().expect("run tests/chart/setup.sh");
    assert!(
        out.status.success(),
        "tests/chart/setup.sh could not install Chromium and Mermaid:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The Mermaid block of a markdown summary.
fn mermaid_of(md: &str) -> String {
    let start = md.find("```mermaid\n").expect("a Mermaid block") + "```mermaid\n".len();
    let end = start + md[start..].find("```").expect("the block's end");
    md[start..end].to_string()
}

/// Renders `code` on a `theme` page ("default" on white, "dark" on GitHub's dark background):
/// the page's status ("rendered", or the error) and the rendered SVG; a screenshot as
/// `NAME-THEME.png`.
fn render(chromium: &str, code: &str, theme: &str, name: &str) -> (String, String) {
    let mermaid =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chart/node_modules/mermaid/dist/mermaid.min.js");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chart-{name}-{theme}"));
    std::fs::create_dir_all(&dir).unwrap();
    let background = if theme == "dark" { "#0d1117" } else { "#ffffff" };
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><style>body {{ background: {background}; margin: 16px; }}</style></head>
<body><div id="chart"></div><pre id="status">pending</pre>
<script src="file://{mermaid}"></script>
<script>
(async () => {{
  const status = document.getElementById("status");
  try {{
    mermaid.initialize({{ startOnLoad: false, theme: "{theme}" }});
    const {{ svg }} = await mermaid.render("rendered", {code});
    document.getElementById("chart").innerHTML = svg;
    status.textContent = "rendered";
  }} catch (e) {{
    status.textContent = "error: " + (e && e.message ? e.message : e);
  }}
}})();
</script></body></html>"#,
        mermaid = mermaid.display(),
        code = serde_json::to_string(code).unwrap(),
    );
    let html = dir.join("page.html");
    std::fs::write(&html, page).unwrap();
    let run = |extra: &[String]| {
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(["--virtual-time-budget=15000", "--window-size=1000,620", "--hide-scrollbars"])
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let dom = run(&["--dump-dom".to_string()]);
    let shot = artifacts().join(format!("{name}-{theme}.png"));
    run(&[format!("--screenshot={}", shot.display())]);
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "no screenshot at {}", shot.display());
    let status = dom.split("id=\"status\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or_default();
    (status.to_string(), dom)
}

/// WCAG contrast ratio of two `#rrggbb` colors.
fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |hex: &str| {
        let channel = |i: usize| {
            let c = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
            if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The plot lines of a rendered chart: (stroke color, number of points).
fn plot_lines(dom: &str) -> Vec<(String, usize)> {
    dom.split("<path ")
        .skip(1)
        .filter_map(|p| {
            let tag = &p[..p.find('>')?];
            let attr = |name: &str| tag.split(&format!("{name}=\"")).nth(1).and_then(|s| s.split('"').next());
            // Axis lines are short ("M x,y L x,y"); plot lines have a point per sample.
            let d = attr("d")?;
            let points = d.matches('L').count() + 1;
            let stroke = attr("stroke")?.to_string();
            (points > 10).then_some((stroke, points))
        })
        .collect()
}

fn check(chromium: &str, md: &str, name: &str, members: usize) {
    let code = mermaid_of(md);
    for theme in ["default", "dark"] {
        let (status, dom) = render(chromium, &code, theme, name);
        assert_eq!(status, "rendered", "{name} ({theme}): Mermaid could not render:\n{code}");
        let lines = plot_lines(&dom);
        assert_eq!(lines.len(), members, "{name} ({theme}): a line per member: {lines:?}");
        let background = if theme == "dark" { "#0d1117" } else { "#ffffff" };
        for (n, (stroke, points)) in lines.iter().enumerate() {
            assert_eq!(*stroke, chart::color(n), "{name} ({theme}): line {n}'s own color");
            assert_eq!(*points, chart::SAMPLES, "{name}: sampled over time, every sample drawn");
            let ratio = contrast(stroke, background);
            assert!(ratio >= 3.0, "{name}: {stroke} on {background} has a contrast of {ratio:.1}, under 3:1");
        }
        assert!(dom.contains("minutes since the start"), "{name}: a time axis in minutes");
    }
}

#[tokio::test(start_paused = true)]
async fn the_summary_chart_renders_with_visible_lines_on_a_real_time_axis() {
    let chromium = chromium();
    // A deploy: a 2 s step at 5%, a minute at 50%, then a bake; and one an alarm rolls back.
    let fake = standard();
    let run = deploy(&fake, &["--steps", "5:2s,50:60s,100", "--bake", "10s", "--alarms", "errors"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let md = summary(&run.entries, run.code(), &run.message(), Duration::from_secs(72));
    check(&chromium, &md, "deployed", 1);
    let code = mermaid_of(&md);
    assert!(code.contains("title \"v3: share of traffic, done at 01:1"), "{code}");

    let fake = standard();
    fire_alarm_after(&fake, "errors", Duration::from_secs(30));
    let run = deploy(
        &fake,
        &[
            "--strategy", "linear", "--increment", "20", "--interval", "20", "--alarms", "errors",
            "--alarm-polling", "1",
        ],
    )
    .await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let md = summary(&run.entries, run.code(), &run.message(), Duration::from_secs(31));
    check(&chromium, &md, "rolled-back", 1);

    // A release of twelve: twelve colors, each its own.
    let fakes: Vec<Fake> =
        (1..=12).map(|i| Fake::new(&format!("m{i}"), 3).with_alias("prod", &[(2, 100)])).collect();
    let run = deploy_release(
        &fakes,
        &["--strategy", "canary", "--increment", "10", "--interval", "30"],
        Signals::manual().0,
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let md = summary(&run.entries, run.code(), &run.message(), Duration::from_secs(30));
    check(&chromium, &md, "release", 12);
}
