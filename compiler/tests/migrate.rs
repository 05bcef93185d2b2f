//! Legacy `v2beta1` definitions through the `wayfinder-compile` binary: `--migrate` writes
//! the v2beta2 definitions our legacy fixtures (`model/tests/data/legacy`: nine plans shaped
//! like Wayfinder's example repository and one with an AKS spot pool, across EKS, AKS and GKE,
//! two packages from one chart repository, a repository and cloud accesses) become — byte for byte the golden files in `tests/golden-migrate/` — and says
//! what each became; `--check` agrees; the same legacy definitions compile into modules
//! directly, each migration said in a note; bad legacy input is an error at its file, line
//! and field path, and nothing is written.
//!
//! Run with `WAYFINDER_UPDATE_GOLDEN=1` to rewrite the expected files after an intended
//! change, and review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wayfinder-compile");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data/legacy")
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-migrate")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(fixtures())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn migrate_writes_the_v2beta2_definitions_each_legacy_one_becomes() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().to_string_lossy().into_owned();
    let out = run(&["--migrate", "plans", "others", "--out", &out_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("plans/eks-general.yaml:2:1: ClusterPlan/eks-general: note: ClusterPlan/eks-general (compute.appvia.io/v2beta1) migrated to ClusterPlan/eks-general 1.0.0 (compute.appvia.io/v2beta2) and ComputeTemplate/eks-general"),
        "{err}"
    );
    assert!(
        err.contains("carried in annotation legacy.appvia.io/v2beta1"),
        "{err}"
    );
    assert!(err.contains("migrated 16 legacy definitions into"), "{err}");
    let expected = golden();
    if std::env::var_os("WAYFINDER_UPDATE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(&expected);
        fs::create_dir_all(&expected).unwrap();
        for f in files(out_dir.path()) {
            fs::copy(out_dir.path().join(&f), expected.join(&f)).unwrap();
        }
        return;
    }
    assert_eq!(files(out_dir.path()), files(&expected));
    for f in files(&expected) {
        assert_eq!(
            fs::read_to_string(out_dir.path().join(&f)).unwrap(),
            fs::read_to_string(expected.join(&f)).unwrap(),
            "{f} differs; rerun with WAYFINDER_UPDATE_GOLDEN=1 if the change is intended"
        );
    }
    // --check agrees, and writes nothing.
    let check = run(&[
        "--migrate",
        "plans",
        "others",
        "--out",
        &out_path,
        "--check",
    ]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stderr(&check).contains("is up to date"),
        "{}",
        stderr(&check)
    );
}

#[test]
fn legacy_definitions_compile_directly_and_each_migration_is_noted() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().to_string_lossy().into_owned();
    let out = run(&["plans", "--out", &out_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("(compute.appvia.io/v2beta1) migrated to")
            .count(),
        10,
        "{err}"
    );
    assert!(
        err.contains("compiled 20 definitions from 10 files"),
        "{err}"
    );
    // Located at the legacy field's own line (spec.template.networking.networkPlan).
    assert!(
        err.contains("plans/eks-private.yaml:34:7: ClusterPlan/eks-private: spec.network.networkPlan: warning"),
        "{err}"
    );
    for plan in [
        "aks-locked-down",
        "aks-sandbox",
        "aks-spot",
        "eks-company",
        "eks-general",
        "eks-private",
        "eks-sandbox",
        "eks-team-dev",
        "gke-locked-down",
        "gke-sandbox",
    ] {
        assert!(
            out_dir
                .path()
                .join("clusters")
                .join(plan)
                .join("main.tf")
                .is_file(),
            "a self-service module for {plan}"
        );
    }
}

#[test]
fn bad_legacy_input_is_refused_at_its_line_and_nothing_is_written() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("out");
    let out = run(&[
        "--migrate",
        "plans",
        "invalid",
        "--out",
        &target.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in [
        "invalid/unknown-field.yaml:12:5: ClusterPlan/eks-typo: spec.template.nodePool: unknown field `nodePool`",
        "invalid/provider-mismatch.yaml:9:13: ClusterPlan/aks-confused: spec.template.providerDetails.type: \"EKS\" disagrees with spec.template.provider \"AKS\"",
        "invalid/machine-enums-disagree.yaml:",
        "spec.policies[1].enum: differs from the machines policies[0] allows",
        "invalid/cloud-identity-secret.yaml:",
        "invalid/cloud-identity-secret-aws.yaml:",
        "invalid/azure-access-without-tenant.yaml:",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    // A v2beta1 identity with a Secret: word for word what the model (and the server) says,
    // naming the v2beta2 fields to set.
    for stem in ["cloud-identity-secret", "cloud-identity-secret-aws"] {
        let expected =
            fs::read_to_string(fixtures().join(format!("expected/{stem}.error"))).unwrap();
        assert!(
            err.replace('\n', " ").contains(expected.trim_end()),
            "{stem}: {expected}\n{err}"
        );
    }
    assert!(!target.exists(), "nothing is written");
    // Compiling instead of migrating: the same errors.
    let out = run(&["invalid", "--out", &target.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("spec.template.nodePool: unknown field"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());
}

#[test]
fn two_legacy_packages_from_one_chart_repository_give_one_repository() {
    // others/: package-azure-identity and package-external-secrets both install from
    // https://charts.example.org.
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().to_string_lossy().into_owned();
    let out = run(&["--migrate", "others", "--out", &out_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written: Vec<String> = files(out_dir.path())
        .into_iter()
        .filter(|f| {
            fs::read_to_string(out_dir.path().join(f))
                .unwrap()
                .contains("kind: Repository\nmetadata:\n  name: charts-example-org\n")
        })
        .collect();
    assert_eq!(written, ["package-tf-runner-azure.yaml"], "written once");
    let other = fs::read_to_string(out_dir.path().join("package-secrets-operator.yaml"))
        .unwrap()
        .replace("\n# ", " ");
    assert!(
        other.contains("Repository/charts-example-org is identical to the one others/package-azure-identity.yaml gives"),
        "{other}"
    );
    // Compiled directly: no "defined more than once".
    let compiled = tempfile::tempdir().unwrap();
    let out = run(&["others", "--out", &compiled.path().to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("more than once"), "{}", stderr(&out));
}

#[test]
fn two_legacy_packages_giving_different_repositories_of_one_name_are_an_error_naming_both_files() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("out");
    let target = target.to_string_lossy().into_owned();
    let out = run(&["--migrate", "conflict", "--out", &target]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("conflict/package-docs-b.yaml")
            && err.contains("Repository/charts-example-com differs from the Repository/charts-example-com that conflict/package-docs-a.yaml gives"),
        "{err}"
    );
    let out = run(&["conflict", "--out", &target]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("conflict/package-docs-b.yaml")
            && err.contains("defined more than once: Repository/charts-example-com is also defined in conflict/package-docs-a.yaml"),
        "{err}"
    );
    assert!(!Path::new(&target).exists(), "nothing is written");
}
