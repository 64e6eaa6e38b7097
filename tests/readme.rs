//! README.md stays true: its config examples parse, and the make targets
//! and flags it names exist.

use ingest::Config;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The ```json blocks of the README that are configs (they have `sources`).
fn config_examples(text: &str) -> Vec<String> {
    text.split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.trim_start().starts_with('{') && block.contains("\"sources\""))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_config_example_in_the_readme_parses() {
    // The examples read tokens from the environment, as a user's would.
    std::env::set_var("SHOP_TOKEN", "s3cret");
    std::env::set_var("GITHUB_TOKEN", "ghp_x");
    std::env::set_var("WEATHER_KEY", "w3ather");
    let examples = config_examples(&readme());
    assert!(
        examples.len() >= 7,
        "the full example and one per pagination style"
    );
    for (i, example) in examples.iter().enumerate() {
        let config = Config::parse(&format!("README example {i}"), example)
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        let redacted = config.to_redacted_json().to_string();
        assert!(
            ["s3cret", "ghp_x", "w3ather"]
                .iter()
                .all(|secret| !redacted.contains(secret)),
            "{redacted}"
        );
    }
}

#[test]
fn the_make_targets_the_readme_names_exist() {
    let makefile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile")).unwrap();
    let text = readme();
    for target in ["run", "test", "lint", "build", "bench", "coverage"] {
        assert!(
            text.contains(&format!("make {target}")),
            "README names make {target}"
        );
        assert!(
            makefile.contains(&format!("\n{target}:")),
            "Makefile has {target}"
        );
    }
}
