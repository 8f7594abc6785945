//! The catalog is the table of docs/kernels/KERNELS.md §5, every table entry joins it, and the
//! implemented kernels agree with their specs. Invariants, not counts.

use kroute::{catalog, kernels, registry, spec_of, Domain, Params, Tensor};
use std::collections::HashSet;

/// The catalog table of docs/kernels/KERNELS.md §5: (domain, kernel names) per row.
fn contract_catalog() -> Vec<(String, Vec<String>)> {
    let text = include_str!("../../../docs/kernels/KERNELS.md");
    text.lines()
        .filter(|l| l.starts_with("| ["))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let domain = cells[1]
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .to_string();
            let names: Vec<String> = cells[3]
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .collect();
            let count: usize = cells[2].parse().unwrap();
            assert_eq!(count, names.len(), "{domain}: the count column disagrees");
            (domain, names)
        })
        .collect()
}

#[test]
fn the_catalog_is_the_contract_table_in_order() {
    let contract = contract_catalog();
    assert!(
        !contract.is_empty(),
        "no catalog table found in docs/kernels/KERNELS.md"
    );
    let domains: Vec<&str> = Domain::ALL.iter().map(|d| d.name()).collect();
    let want: Vec<&str> = contract.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        domains, want,
        "the domain list differs from docs/kernels/KERNELS.md §5"
    );
    let specs: Vec<_> = catalog().collect();
    let got: Vec<(&str, &str)> = specs.iter().map(|s| (s.domain.name(), s.name)).collect();
    let want: Vec<(&str, &str)> = contract
        .iter()
        .flat_map(|(d, names)| names.iter().map(move |n| (d.as_str(), n.as_str())))
        .collect();
    assert_eq!(
        got, want,
        "the catalog differs from docs/kernels/KERNELS.md §5"
    );
    let names: HashSet<_> = specs.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), specs.len(), "kernel names are unique");
}

#[test]
fn every_table_entry_joins_the_catalog() {
    // Ops, CUDA tables and specs that name no kernel of their domain, or twice.
    assert!(
        registry().problems.is_empty(),
        "{}",
        registry().problems.join("\n")
    );
    for k in kernels() {
        assert_eq!(spec_of(k.name()).unwrap().name, k.name());
        let ids: Vec<&str> = k.implementations().iter().map(|i| i.id).collect();
        assert_eq!(&ids[..3], ["scalar", "simd", "parallel"], "{}", k.name());
        for i in k.implementations() {
            assert_eq!(i.kernel, k.name());
            assert_eq!(k.implementation(i.id).unwrap().backend, i.backend);
        }
    }
}

#[test]
fn every_spec_is_well_formed() {
    for s in catalog() {
        for p in s.params {
            assert!(
                p.min <= p.default && p.default <= p.max,
                "{}: {} default outside its range",
                s.name,
                p.name
            );
        }
        assert!((s.bytes)(10_000_000) > 0.0, "{}: bytes", s.name);
        assert!((s.flops)(10_000_000) >= 0.0, "{}: flops", s.name);
        // Defaults always resolve.
        Params::resolve(s, &[]).unwrap();
    }
}

#[test]
fn every_implemented_kernel_counts_its_bytes_like_its_workload() {
    for op in kernels() {
        let spec = op.spec;
        // The spec's minimal bytes equal the workload's inputs plus outputs (each once); the
        // entries leave out a scalar result's own 4 or 8 bytes.
        for n in [1usize, 4096, 1_000_003] {
            let inputs = op.workload(n, 1);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let params = Params::defaults(spec);
            let outs = op.check(&refs, &params).unwrap();
            let mut in_bytes = inputs.iter().map(Tensor::bytes).sum::<usize>() as f64;
            if op.name() == "triangular_solve" {
                // The entry counts the lower triangle L is read from (the solve never touches
                // the zeros above the diagonal); the workload holds the whole square.
                let m = inputs[1].len() as f64;
                in_bytes -= 4.0 * m * (m - 1.0) / 2.0;
            }
            let full = in_bytes + outs.iter().map(|d| d.bytes() as f64).sum::<f64>();
            // A capacity output (compaction's values) counts the expected half of its capacity
            // written: the entries' bytes use the expected count N/2 (the kept count depends on
            // the data; the scans domain's NOTE). The reference says which outputs those are;
            // it is asked only when the plain count disagrees (attention's f64 reference is a
            // whole batch, 10^10 to 10^11 flops, at any n).
            let actual = if full == (spec.bytes)(n as u64) {
                full
            } else {
                let expected = op.reference(&refs, &params);
                let out_bytes: f64 = outs
                    .iter()
                    .zip(&expected)
                    .map(|(d, e)| match e.prefix {
                        Some(_) => d.bytes() as f64 * 0.5,
                        None => d.bytes() as f64,
                    })
                    .sum();
                in_bytes + out_bytes
            };
            let diff = actual - (spec.bytes)(n as u64);
            assert!(
                diff == 0.0 || (outs.iter().all(|d| d.shape.is_empty()) && diff <= 8.0),
                "{} at n = {n}: {diff}",
                op.name()
            );
            assert_eq!(op.outputs().len(), outs.len(), "{}", op.name());
        }
    }
}
