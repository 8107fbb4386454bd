//! The README's examples, run as a newcomer runs them: a fresh `serve` on
//! the embedded default, then every `sh` block that calls it (`$SECRET` or
//! `http://127.0.0.1:8080`), in the README's order, each command with bash
//! from the repository's folder. The comment lines right after a command
//! are its answer: the output must be exactly that, `…` standing for any
//! text. A read (no `-d`) may be repeated until it matches, since changes
//! are applied just after they are acknowledged. A block after a line
//! `<!-- readme-test: skip (why) -->` is not run.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

const README_BASE: &str = "http://127.0.0.1:8080";

/// One command of a block and the answer the README shows for it.
#[derive(Debug)]
struct Step {
    /// Where in README.md (1-based line of its first line).
    line: usize,
    script: String,
    answer: Option<String>,
}

/// The `sh` blocks that talk to `serve`, unless marked to skip.
fn blocks(readme: &str) -> Vec<(usize, Vec<&str>)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != "```sh" {
            i += 1;
            continue;
        }
        let skipped = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("<!-- readme-test: skip"));
        let start = i + 1;
        let end = start
            + lines[start..]
                .iter()
                .position(|l| *l == "```")
                .expect("a closed block");
        let body = lines[start..end].to_vec();
        let talks = body
            .iter()
            .any(|l| l.contains("SECRET") || l.contains(README_BASE));
        if talks && !skipped {
            out.push((start + 1, body));
        }
        i = end + 1;
    }
    out
}

/// A block's commands: runs of lines that are neither blank nor comments,
/// each with the comment lines right after it as its answer (joined, their
/// `# ` and leading spaces removed).
fn steps(first_line: usize, body: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_answer = false;
    for (n, line) in body.iter().enumerate() {
        let comment = line.trim_start().starts_with('#');
        if line.trim().is_empty() {
            in_answer = false;
        } else if comment {
            let Some(step) = steps.last_mut().filter(|_| in_answer) else {
                continue;
            };
            let text = line.trim_start().trim_start_matches('#').trim_start();
            step.answer.get_or_insert_default().push_str(text);
        } else if in_answer && steps.last().is_some_and(|s| s.answer.is_none()) {
            let step = steps.last_mut().unwrap();
            step.script.push('\n');
            step.script.push_str(line);
        } else {
            steps.push(Step {
                line: first_line + n,
                script: (*line).to_owned(),
                answer: None,
            });
            in_answer = true;
        }
    }
    steps
}

/// Whether `text` matches `pattern`, where `…` stands for any text.
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.ends_with(last)
}

fn bash(script: &str, dir: &Path, secret: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .env("SECRET", secret)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_example_answers_what_the_readme_shows() {
    let repo = engage_bridge_tests::repo_root();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--listen", "127.0.0.1:0"]);
    let mut secret = String::new();
    let mut ran = 0;
    for (first_line, body) in blocks(&readme) {
        for step in steps(first_line, &body) {
            let line = step.line;
            // The README's own way to get the secret, where `serve` keeps it.
            if step.script.starts_with("SECRET=") {
                let script = format!("{}\nprintf %s \"$SECRET\"", step.script);
                secret = bash(&script, data.path(), "");
                assert!(secret.len() >= 32, "README.md:{line}: {secret:?}");
                continue;
            }
            let answer = step
                .answer
                .unwrap_or_else(|| panic!("README.md:{line}: a command without its answer"));
            assert!(!secret.is_empty(), "README.md:{line}: $SECRET is never set");
            let script = step.script.replace(README_BASE, &server.base);
            let read_only = !script.contains(" -d ");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let output = bash(&script, &repo, &secret);
                if matches(&answer, &output) {
                    break;
                }
                if !read_only || Instant::now() > deadline {
                    panic!(
                        "README.md:{line}: `{}`\nREADME shows: {answer}\nit answers:   {output}",
                        step.script
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} README examples found");
}

#[test]
fn the_answer_pattern_matches_only_what_it_shows() {
    assert!(matches(r#"{"a":1}"#, r#"{"a":1}"#));
    assert!(!matches(r#"{"a":1}"#, r#"{"a":1,"b":2}"#));
    assert!(matches(r#"{"a":…,"c":3}"#, r#"{"a":1,"b":2,"c":3}"#));
    assert!(!matches(r#"{"a":…,"c":3}"#, r#"{"a":1,"c":4}"#));
    assert!(matches("x…", "xyz"));
    assert!(!matches("…z", "xy"));
}
