//! Prediction from measured points: log(time) against log(n), piecewise linear between the
//! measured sizes and extrapolated from the end segments.

use super::profile::Point;

/// Predicted seconds at `n` from points measured at other sizes (any order; a size measured
/// twice keeps its last point), or None without points. Between two measured sizes the
/// prediction is linear in log–log space; beyond the ends the end segment's slope carries on,
/// held to [1, 2] above the largest size and to [0, 1] below the smallest (time never falls
/// faster than the work). Above, at least 1: every workload of the catalog grows at least as n
/// past its measured sizes, and an end segment flatter than that is a latency floor or a batch
/// dimension floored at 1, not what larger sizes cost — an implementation whose points stop early
/// (dropped as far slower) must not look cheap beyond them (on the H200, scalar matmul_batched,
/// flat at 2^10–2^14 where B = 1 and dropped there, was routed at 1.5·2^20: 49.7 ms against
/// faer's 0.63 ms). Nothing in the catalog grows faster than n². One point predicts time ∝ n
/// above it and that time below it (a latency floor).
pub fn predict(points: &[Point], n: u64) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.seconds.is_finite() && p.seconds > 0.0)
        .map(|p| ((p.n.max(1) as f64).ln(), p.seconds.ln()))
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 = later.1;
            true
        } else {
            false
        }
    });
    let x = (n.max(1) as f64).ln();
    let (first, last) = (*p.first()?, *p.last()?);
    if p.len() == 1 {
        let slope = if x > first.0 { 1.0 } else { 0.0 };
        return Some((first.1 + slope * (x - first.0)).exp());
    }
    let slope = |a: (f64, f64), b: (f64, f64)| (b.1 - a.1) / (b.0 - a.0);
    let y = if x <= first.0 {
        first.1 + slope(first, p[1]).clamp(0.0, 1.0) * (x - first.0)
    } else if x >= last.0 {
        let before = p[p.len() - 2];
        last.1 + slope(before, last).clamp(1.0, 2.0) * (x - last.0)
    } else {
        let i = p.partition_point(|q| q.0 <= x);
        let (a, b) = (p[i - 1], p[i]);
        a.1 + slope(a, b) * (x - a.0)
    };
    Some(y.exp())
}

/// Whether `n` lies within the measured sizes (interpolated) rather than beyond them.
pub fn within(points: &[Point], n: u64) -> bool {
    let lo = points.iter().map(|p| p.n).min();
    let hi = points.iter().map(|p| p.n).max();
    matches!((lo, hi), (Some(lo), Some(hi)) if lo <= n && n <= hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(u64, f64)]) -> Vec<Point> {
        v.iter().map(|&(n, seconds)| Point { n, seconds }).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-300)
    }

    #[test]
    fn exact_at_measured_sizes() {
        let p = pts(&[(1024, 1e-6), (4096, 2e-6), (1 << 20, 1e-3)]);
        for q in &p {
            assert!(close(predict(&p, q.n).unwrap(), q.seconds));
        }
    }

    #[test]
    fn linear_in_log_log_between_points() {
        // From 1 µs at 2^10 to 4 µs at 2^12: slope 1 in log-log, so 2 µs at 2^11.
        let p = pts(&[(1 << 12, 4e-6), (1 << 10, 1e-6)]);
        assert!(close(predict(&p, 1 << 11).unwrap(), 2e-6));
        // A flat segment stays flat; a steeper one is geometric in between.
        let p = pts(&[(1 << 10, 5e-6), (1 << 14, 5e-6), (1 << 16, 80e-6)]);
        assert!(close(predict(&p, 1 << 12).unwrap(), 5e-6));
        assert!(close(predict(&p, 1 << 15).unwrap(), 20e-6));
    }

    #[test]
    fn extrapolates_from_the_end_segments() {
        let p = pts(&[(1 << 10, 1e-6), (1 << 12, 4e-6)]);
        assert!(close(predict(&p, 1 << 14).unwrap(), 16e-6));
        assert!(close(predict(&p, 1 << 8).unwrap(), 0.25e-6));
        assert!(!within(&p, 1 << 14) && within(&p, 1 << 11));
    }

    #[test]
    fn extrapolation_slopes_are_held_to_what_time_can_do() {
        // An end segment that falls or stays flat (noise, a latency floor, a batch floored at
        // 1) would predict little time for much more work: held to the work's growth, ∝ n.
        let p = pts(&[(1 << 10, 2e-6), (1 << 12, 1e-6)]);
        assert!(close(predict(&p, 1 << 20).unwrap(), 256e-6));
        let p = pts(&[(1 << 10, 5e-4), (1 << 14, 5e-4)]);
        assert!(close(predict(&p, 1 << 22).unwrap(), 128e-3));
        // Below the smallest size, never faster than the work shrinks (slope ≤ 1).
        let p = pts(&[(1 << 10, 1e-6), (1 << 11, 8e-6)]);
        assert!(close(predict(&p, 1 << 9).unwrap(), 0.5e-6));
    }

    #[test]
    fn one_point_and_no_point() {
        assert_eq!(predict(&[], 100), None);
        let p = pts(&[(1000, 1e-3)]);
        assert!(close(predict(&p, 2000).unwrap(), 2e-3));
        assert!(close(predict(&p, 10).unwrap(), 1e-3));
        // Unusable points (zero, NaN) are ignored; n = 0 is treated as 1.
        let p = pts(&[(1000, 0.0), (10, f64::NAN)]);
        assert_eq!(predict(&p, 0), None);
        assert!(predict(&pts(&[(1, 1e-6), (2, 2e-6)]), 0).is_some());
    }
}
