//! The catalog matches KERNELS.md §5, and the implemented kernels agree with their specs.

use kroute::{catalog, ops, Domain, Params, Tensor};
use std::collections::HashSet;

#[test]
fn catalog_has_114_kernels_in_21_domains_in_order() {
    let specs: Vec<_> = catalog().collect();
    assert_eq!(specs.len(), 114);
    let names: HashSet<_> = specs.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 114, "kernel names are unique");
    let counts: Vec<usize> = Domain::ALL
        .iter()
        .map(|d| specs.iter().filter(|s| s.domain == *d).count())
        .collect();
    assert_eq!(
        counts,
        [12, 7, 10, 4, 2, 3, 4, 6, 3, 4, 4, 6, 6, 6, 5, 6, 5, 7, 6, 3, 5]
    );
    // Domains appear in catalog order.
    let order: Vec<Domain> = specs.iter().map(|s| s.domain).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
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
fn the_first_slice_is_implemented_with_matching_bytes() {
    let implemented: Vec<_> = ops().map(|o| o.name).collect();
    assert_eq!(implemented.len(), 38);
    for op in ops() {
        let spec = op.spec();
        assert!(matches!(
            spec.domain,
            Domain::Elementwise
                | Domain::Activations
                | Domain::Reductions
                | Domain::Fused
                | Domain::DotProducts
                | Domain::Quantization
        ));
        // The spec's minimal bytes equal the workload's inputs plus outputs (each once); the
        // entries leave out a scalar result's own 4 or 8 bytes.
        for n in [1usize, 4096, 1_000_003] {
            let inputs = (op.workload)(n, 1);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let params = Params::defaults(spec);
            let outs = op.check(&refs, &params).unwrap();
            let actual: usize = inputs.iter().map(Tensor::bytes).sum::<usize>()
                + outs.iter().map(|d| d.bytes()).sum::<usize>();
            let diff = actual as f64 - (spec.bytes)(n as u64);
            assert!(
                diff == 0.0 || (outs.iter().all(|d| d.shape.is_empty()) && diff <= 8.0),
                "{} at n = {n}: {diff}",
                op.name
            );
            assert_eq!(op.outputs.len(), outs.len(), "{}", op.name);
        }
    }
}
