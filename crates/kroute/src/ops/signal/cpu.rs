//! signal on the CPU. window_apply: the Hann table is built in f64 and rounded to f32 once per
//! call (M values against R·M samples), then every frame is multiplied by it — one f32 rounding
//! of the weight and one of the product, about 1e-7 relative, inside elementwise(2e-6, 1e-12).

use crate::backend::cpu::drivers::{self, Rows};
use crate::backend::cpu::Cpu;
use crate::ops::elementwise::cpu::Mul;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;

pub fn window_apply(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let m = p.usize("frame_length");
    let w: Vec<f32> = super::hann(m).into_iter().map(|v| v as f32).collect();
    let (x, y) = (i[0].as_f32()?, o[0].as_f32_mut()?);
    drivers::rows(cpu, x.len() / m, m, Rows::new(y, m), |cpu, r, y| {
        let x = &x[r.start * m..r.end * m];
        for (xr, yr) in x.chunks_exact(m).zip(y.data.chunks_exact_mut(m)) {
            drivers::map2(cpu, &Mul, xr, &w, yr);
        }
    });
    Ok(())
}
