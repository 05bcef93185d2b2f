//! Benchmarks of the model engine (filled in by the policy and cost work).

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("parse compute template", |b| {
        let yaml = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata: {name: t}\nspec:\n  provider: EKS\n  nodePools: [{logicalName: a, machine: m6i.large, size: 1}]\n";
        b.iter(|| wayfinder_model::parse_yaml_documents("b.yaml", yaml).unwrap())
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
