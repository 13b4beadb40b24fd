//! The suite as JUnit XML, so a guest's CI can run `forkmail check` as a
//! test step: one `<testsuite>` per run, one `<testcase>` per check, a
//! `<failure>` for a failed check, evidence in `<system-out>` (a warning
//! passes, and says so there).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{CheckReport, Verdict};

/// Text safe for XML 1.0: control characters (other than tab and newline)
/// are not allowed in a document at all, even escaped.
fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' => c,
            c if c.is_control() => crate::sanitize::REPLACEMENT,
            c => c,
        })
        .collect()
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The report as a JUnit XML document.
pub fn junit_xml(report: &CheckReport) -> String {
    let failures = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .count()
        .to_string();
    let tests = report.results.len().to_string();
    let time = secs(report.elapsed_ms);
    let suite_name = format!("forkmail check {}", report.snapshot);
    let classname = format!("forkmail.check.{}", report.snapshot);
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let counts = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
        ("skipped", "0"),
        ("time", time.as_str()),
    ];
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "forkmail check"));
    root.extend_attributes(counts);
    let _ = w.write_event(Event::Start(root));
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", xml_text(&suite_name).as_str()));
    suite.extend_attributes(counts);
    let _ = w.write_event(Event::Start(suite));
    let _ = w.write_event(Event::Start(BytesStart::new("properties")));
    let props = [
        ("snapshot", report.snapshot.clone()),
        ("vmm", report.vmm.label().to_string()),
        ("zero_copy", report.zero_copy.to_string()),
        ("deadline_ms", report.deadline_ms.to_string()),
        ("mailboxes", report.mailboxes.join(",")),
    ];
    for (k, v) in props {
        let mut p = BytesStart::new("property");
        p.push_attribute(("name", k));
        p.push_attribute(("value", xml_text(&v).as_str()));
        let _ = w.write_event(Event::Empty(p));
    }
    let _ = w.write_event(Event::End(BytesEnd::new("properties")));
    for r in &report.results {
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("name", r.check.label()));
        case.push_attribute(("classname", xml_text(&classname).as_str()));
        case.push_attribute(("time", secs(r.elapsed_ms).as_str()));
        let _ = w.write_event(Event::Start(case));
        let evidence = xml_text(&r.evidence.join("\n"));
        if r.verdict == Verdict::Fail {
            let mut f = BytesStart::new("failure");
            let first = r.evidence.first().map(String::as_str).unwrap_or("failed");
            f.push_attribute(("message", xml_text(first).as_str()));
            f.push_attribute(("type", r.check.label()));
            let _ = w.write_event(Event::Start(f));
            let _ = w.write_event(Event::Text(BytesText::new(&format!(
                "rule: {}\n{evidence}",
                r.rule
            ))));
            let _ = w.write_event(Event::End(BytesEnd::new("failure")));
        }
        let out = match r.verdict {
            Verdict::Warn => format!("warning: {}\n{evidence}", r.rule),
            _ => format!("{}: {}\n{evidence}", r.verdict.label(), r.rule),
        };
        let _ = w.write_event(Event::Start(BytesStart::new("system-out")));
        let _ = w.write_event(Event::Text(BytesText::new(&out)));
        let _ = w.write_event(Event::End(BytesEnd::new("system-out")));
        let _ = w.write_event(Event::End(BytesEnd::new("testcase")));
    }
    let _ = w.write_event(Event::End(BytesEnd::new("testsuite")));
    let _ = w.write_event(Event::End(BytesEnd::new("testsuites")));
    let mut xml = String::from_utf8_lossy(&w.into_inner()).into_owned();
    xml.push('\n');
    xml
}
