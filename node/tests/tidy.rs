//! The layering rules of ARCHITECTURE.md that Cargo cannot check by itself, checked over
//! the workspace's own files (manifests, sources, ARCHITECTURE.md). Each failure names the
//! file and line and the rule it breaks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("node/ has a parent")
        .to_path_buf()
}

/// The workspace members' directories, relative to the root, from the root manifest.
fn members() -> Vec<String> {
    let text = fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    let manifest: toml::Table = text.parse().expect("root manifest parses");
    manifest["workspace"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().expect("member path").to_owned())
        .collect()
}

/// The names in a manifest's `[dependencies]` (and, with `dev`, `[dev-dependencies]`).
fn dependencies(member: &str, dev: bool) -> BTreeSet<String> {
    let path = root().join(member).join("Cargo.toml");
    let text = fs::read_to_string(&path).expect("member manifest");
    let manifest: toml::Table = text.parse().expect("member manifest parses");
    let mut out = BTreeSet::new();
    for table in ["dependencies", "dev-dependencies"] {
        if table == "dev-dependencies" && !dev {
            continue;
        }
        if let Some(deps) = manifest.get(table).and_then(|t| t.as_table()) {
            out.extend(deps.keys().cloned());
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "fuzz")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `.rs` files of a member's library or binary (its `src/`).
fn sources(member: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    rust_files(&root().join(member).join("src"), &mut out);
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The source with comments and the contents of string and char literals blanked out
/// (same length, newlines kept), so rules match code, not prose.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        out.extend([b' ', b' ']);
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        out.extend([b' ', b' ']);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        out.push(blank(b[i]));
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                // A raw string: r"…" or r#"…"#.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push(b[i]);
                    i += 1;
                    continue;
                }
                out.extend(std::iter::repeat_n(b' ', j + 1 - i));
                i = j + 1;
                while i < b.len() {
                    if b[i] == b'"' && b[i + 1..].iter().take(hashes).all(|&c| c == b'#') {
                        out.extend(std::iter::repeat_n(b' ', hashes + 1));
                        i += hashes + 1;
                        break;
                    }
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            b'"' => {
                out.push(b'"');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        out.push(b' ');
                        i += 1;
                    }
                    out.push(blank(b[i]));
                    i += 1;
                }
                out.push(b'"');
                i += 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'') — not a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(end) => {
                        out.push(b'\'');
                        out.extend(std::iter::repeat_n(b' ', end - i - 1));
                        out.push(b'\'');
                        i = end + 1;
                    }
                    None => {
                        out.push(b'\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|&c| c == b'\n').count() + 1
}

/// Positions of `word` in `text` where it is a whole word (not part of an identifier).
fn word_positions<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    text.match_indices(word).filter_map(move |(at, _)| {
        let before = at.checked_sub(1).map(|i| text.as_bytes()[i]);
        let after = text.as_bytes().get(at + word.len()).copied();
        (!before.is_some_and(ident) && !after.is_some_and(ident)).then_some(at)
    })
}

fn report(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{rule} (ARCHITECTURE.md):\n  {}",
        problems.join("\n  ")
    );
}

/// Members that are libraries (everything but the `attach` package itself).
fn library_members() -> Vec<String> {
    members().into_iter().filter(|m| m != "node").collect()
}

#[test]
fn only_the_store_uses_sled() {
    let mut problems = Vec::new();
    for member in members() {
        if member == "node/store" {
            continue;
        }
        if dependencies(&member, true).contains("sled") {
            problems.push(format!("{member}/Cargo.toml lists sled"));
        }
        let mut files = sources(&member);
        if member == "node" {
            rust_files(&root().join("node/tests"), &mut files);
            rust_files(&root().join("node/benches"), &mut files);
        }
        for file in files {
            let code = code_only(&fs::read_to_string(&file).expect("source"));
            for at in word_positions(&code, "sled") {
                if code[at..].starts_with("sled::") {
                    problems.push(format!(
                        "{}:{} uses sled::",
                        relative(&file),
                        line_of(&code, at)
                    ));
                }
            }
        }
    }
    report("only the store crate touches sled", &problems);
}

#[test]
fn anyhow_is_used_by_the_binary_only() {
    let mut problems = Vec::new();
    for member in library_members() {
        if dependencies(&member, true).contains("anyhow") {
            problems.push(format!("{member}/Cargo.toml lists anyhow"));
        }
        for file in sources(&member) {
            let code = code_only(&fs::read_to_string(&file).expect("source"));
            for at in word_positions(&code, "anyhow") {
                problems.push(format!(
                    "{}:{} uses anyhow",
                    relative(&file),
                    line_of(&code, at)
                ));
            }
        }
    }
    report(
        "anyhow lives in the attach binary; libraries have thiserror enums",
        &problems,
    );
}

#[test]
fn the_domain_has_no_storage_network_or_async_dependency() {
    let deps = dependencies("node/domain", false);
    let banned: Vec<_> = [
        "axum",
        "sled",
        "tokio",
        "automerge",
        "attach-store",
        "attach-sync",
    ]
    .into_iter()
    .filter(|d| deps.contains(*d))
    .collect();
    assert!(
        banned.is_empty(),
        "node/domain/Cargo.toml lists {banned:?}: the domain is pure (ARCHITECTURE.md)"
    );
    let store = dependencies("node/store", false);
    assert!(
        !store.contains("attach-domain"),
        "the store knows ids and bytes, not clinics or patients: it must not depend on attach-domain"
    );
}

/// The HTTP side (API, pages, the server, the shared HTTP pieces) calls the app only.
const HTTP_MEMBERS: [&str; 4] = ["node/api", "web-ui", "node/server", "node/http"];

#[test]
fn handlers_and_pages_make_no_storage_calls() {
    let mut problems = Vec::new();
    for member in HTTP_MEMBERS {
        for dep in dependencies(member, false) {
            if ["attach-store", "attach-schema", "sled", "automerge"].contains(&dep.as_str()) {
                problems.push(format!("{member}/Cargo.toml lists {dep}"));
            }
        }
        for file in sources(member) {
            let code = code_only(&fs::read_to_string(&file).expect("source"));
            for call in ["doc_store", "DocStore", "store"] {
                for at in word_positions(&code, call) {
                    let rest = &code[at + call.len()..];
                    let is_call = rest.trim_start().starts_with('(') || call == "DocStore";
                    let is_method = code[..at].ends_with('.') || call == "DocStore";
                    if is_call && is_method {
                        problems.push(format!(
                            "{}:{} calls the store ({call})",
                            relative(&file),
                            line_of(&code, at)
                        ));
                    }
                }
            }
        }
    }
    report(
        "handlers and pages call app functions, never the store",
        &problems,
    );
}

/// Names of patient data that must never be a field (or an argument) of a log event.
const PATIENT_FIELDS: &[&str] = &[
    "phn",
    "health_number",
    "family_name",
    "given_name",
    "given_names",
    "birth_date",
    "date_of_birth",
    "dob",
    "sex",
    "gender",
    "address",
    "phone",
    "email",
    "details",
    "patient",
];

const TRACING_MACROS: &[&str] = &[
    "trace!",
    "debug!",
    "info!",
    "warn!",
    "error!",
    "event!",
    "trace_span!",
    "debug_span!",
    "info_span!",
    "warn_span!",
    "error_span!",
    "span!",
];

/// The argument text of every tracing macro call in `code`: (offset, arguments).
fn tracing_calls(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for name in TRACING_MACROS {
        for (at, _) in code.match_indices(name) {
            let before = at.checked_sub(1).map(|i| code.as_bytes()[i]);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                continue;
            }
            let open = at + name.len();
            let Some(delim) = code[open..].chars().next() else {
                continue;
            };
            let close = match delim {
                '(' => ')',
                '{' => '}',
                '[' => ']',
                _ => continue,
            };
            let mut depth = 0usize;
            for (i, c) in code[open..].char_indices() {
                if c == delim {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        out.push((at, &code[open + 1..open + i]));
                        break;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn no_patient_field_in_a_log_event() {
    let mut problems = Vec::new();
    for member in members() {
        for file in sources(&member) {
            let code = code_only(&fs::read_to_string(&file).expect("source"));
            for (at, args) in tracing_calls(&code) {
                for field in PATIENT_FIELDS {
                    if word_positions(args, field).next().is_some() {
                        problems.push(format!(
                            "{}:{} logs `{field}`",
                            relative(&file),
                            line_of(&code, at)
                        ));
                    }
                }
            }
        }
    }
    report("logs carry ids and counts, never patient data", &problems);
}

/// Test code: the integration tests, and `#[cfg(test)]` parts and `tests.rs` files of
/// sources.
fn test_code() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("node/tests"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for path in files {
        let code = code_only(&fs::read_to_string(&path).expect("source"));
        out.push((path, code));
    }
    for member in members() {
        for path in sources(&member) {
            let code = code_only(&fs::read_to_string(&path).expect("source"));
            if path.file_name().is_some_and(|n| n == "tests.rs") {
                out.push((path, code));
            } else if let Some(at) = code.find("#[cfg(test)]") {
                // Blank the product code before the tests so line numbers stay right.
                let blanked: String = code[..at]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect();
                out.push((path, blanked + &code[at..]));
            }
        }
    }
    out
}

/// The headers of the blocks enclosing `at` (the code between the previous `;`, `{` or
/// `}` and each enclosing `{`).
fn enclosing_headers(code: &str, at: usize) -> Vec<&str> {
    let mut stack: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in code[..at].char_indices() {
        match c {
            '{' => {
                stack.push(&code[start..i]);
                start = i + 1;
            }
            '}' => {
                stack.pop();
                start = i + 1;
            }
            ';' => start = i + 1,
            _ => {}
        }
    }
    stack
}

/// Written on a sleep's line or one of the three above, with the reason: a sleep that waits for
/// nothing (it holds a call in flight so that calls overlap, say).
const SLEEP_ALLOWED: &str = "tidy: allow sleep";

/// Is the sleep at `at` part of polling: in a `loop` or `while` (a `for` over a count is
/// not polling), or in a closure given to a `wait…` or
/// `poll…` helper (which calls it until its condition holds or a deadline passes)?
fn polls(code: &str, at: usize) -> bool {
    enclosing_headers(code, at).iter().any(|h| {
        word_positions(h, "loop").next().is_some()
            || word_positions(h, "while").next().is_some()
            || h.contains("wait_")
            || h.contains("poll")
    })
}

#[test]
fn tests_poll_instead_of_sleeping_a_fixed_time() {
    let mut problems = Vec::new();
    for (path, code) in test_code() {
        let original = fs::read_to_string(&path).expect("source");
        let lines: Vec<&str> = original.lines().collect();
        for at in word_positions(&code, "sleep") {
            if !code[at + "sleep".len()..].trim_start().starts_with('(') {
                continue;
            }
            let line = line_of(&code, at);
            let allowed = lines[line.saturating_sub(4)..line.min(lines.len())]
                .iter()
                .any(|l| l.contains(SLEEP_ALLOWED));
            if !polls(&code, at) && !allowed {
                problems.push(format!(
                    "{}:{line} sleeps a fixed time outside a polling loop",
                    relative(&path),
                ));
            }
        }
    }
    report(
        "tests wait for a condition (poll with a deadline, or paused time), never a fixed time",
        &problems,
    );
}

#[test]
fn architecture_cites_only_files_the_repository_has() {
    let text = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if OUTSIDE_NOTES.iter().any(|n| line.contains(n.as_str())) {
            problems.push(format!(
                "ARCHITECTURE.md:{} cites notes outside the repository",
                n + 1
            ));
        }
        for (i, quoted) in line.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let top = ["node/", "web-ui/", "sync/", "tests/", "docs/", "packaging/"];
            if !top.iter().any(|t| quoted.starts_with(t)) || quoted.contains(['<', '*', '…', ' '])
            {
                continue;
            }
            if !root().join(quoted.trim_end_matches('/')).exists() {
                problems.push(format!(
                    "ARCHITECTURE.md:{} cites `{quoted}`, which does not exist",
                    n + 1
                ));
            }
        }
    }
    for doc in ["docs/design.md", "docs/building-blocks.md"] {
        assert!(root().join(doc).exists(), "{doc} is cited but missing");
    }
    report(
        "ARCHITECTURE.md cites only files the repository has",
        &problems,
    );
}

/// The design notes that stood beside the repository before `docs/` held what the project
/// relies on, spelled in pieces so that this file does not cite them itself.
static OUTSIDE_NOTES: std::sync::LazyLock<[String; 2]> =
    std::sync::LazyLock::new(|| [["..", "shared"].join("/"), ["MEASUREMENTS", "md"].join(".")]);

#[test]
fn nothing_in_the_repository_cites_the_shared_notes() {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for member in members() {
        files.extend(sources(&member));
    }
    rust_files(&root().join("node/tests"), &mut files);
    rust_files(&root().join("node/benches"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for md in ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"] {
        files.push(root().join(md));
    }
    if let Ok(docs) = fs::read_dir(root().join("docs")) {
        files.extend(docs.filter_map(Result::ok).map(|e| e.path()));
    }
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if OUTSIDE_NOTES.iter().any(|n| line.contains(n.as_str())) {
                problems.push(format!("{}:{}", relative(&file), n + 1));
            }
        }
    }
    report(
        "the project documents itself: cite docs/, not notes outside the repository",
        &problems,
    );
}

#[test]
fn the_rules_catch_what_they_are_meant_to() {
    // The scanners themselves: a rule that cannot fail checks nothing.
    let code = code_only("let a = \"sled::x\"; // sled::y\nsled::open(p);");
    assert_eq!(word_positions(&code, "sled").count(), 1);
    let logged = code_only("info!(clinic = %c, phn = %p, \"patient added\");");
    let calls = tracing_calls(&logged);
    assert_eq!(calls.len(), 1);
    assert!(word_positions(calls[0].1, "phn").next().is_some());
    assert!(word_positions(calls[0].1, "patient").next().is_none());
    let fixed = code_only("fn t() { std::thread::sleep(d); }");
    let at = fixed.find("sleep").expect("sleep");
    assert!(
        enclosing_headers(&fixed, at)
            .iter()
            .all(|h| !h.contains("loop"))
    );
    assert!(!polls(&fixed, at));
    let polled = code_only("fn t() { while !done() { sleep(d); } }");
    assert!(polls(&polled, polled.find("sleep").expect("sleep")));
    let helper = code_only("fn t() { wait_until(\"x\", || { sleep(d); true }); }");
    assert!(polls(&helper, helper.find("sleep").expect("sleep")));
    let chars = code_only("let q = '\"'; let s = \"{\"; fn f<'a>(x: &'a str) {}");
    assert!(!chars.contains('{') || chars.matches('{').count() == 1);
}
