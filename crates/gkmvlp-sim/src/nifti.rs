//! A small NIfTI-1 reader (`.nii` or `.nii.gz`) for the scalar volumes the simulator uses: header
//! (dimensions, voxel size, data type, scaling, sform) and voxels converted to `f32`.

use crate::SimError;
use std::io::Read;
use std::path::Path;

#[derive(Clone, Debug)]
pub struct NiftiVolume {
    /// (nx, ny, nz): voxel counts along the file's i, j, k axes.
    pub dim: [usize; 3],
    /// Voxel size in mm along i, j, k.
    pub pixdim: [f32; 3],
    /// The sform rows (i, j, k, 1) → RAS+ mm.
    pub srow: [[f32; 4]; 3],
    /// Voxels after scl_slope/scl_inter, x fastest: index = i + nx*(j + ny*k).
    pub data: Vec<f32>,
}

fn rd_i16(b: &[u8], o: usize, le: bool) -> i16 {
    let a = [b[o], b[o + 1]];
    if le { i16::from_le_bytes(a) } else { i16::from_be_bytes(a) }
}
fn rd_i32(b: &[u8], o: usize, le: bool) -> i32 {
    let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
    if le { i32::from_le_bytes(a) } else { i32::from_be_bytes(a) }
}
fn rd_f32(b: &[u8], o: usize, le: bool) -> f32 {
    let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
    if le { f32::from_le_bytes(a) } else { f32::from_be_bytes(a) }
}

pub fn read_nifti(path: &Path) -> Result<NiftiVolume, SimError> {
    let io = |e: std::io::Error| SimError::Io { path: path.to_path_buf(), source: e };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(std::io::BufReader::new(file)).read_to_end(&mut bytes).map_err(io)?;
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes).map_err(io)?;
    }
    parse_nifti(&bytes).map_err(|msg| SimError::Nifti { path: path.to_path_buf(), msg })
}

pub fn parse_nifti(b: &[u8]) -> Result<NiftiVolume, String> {
    if b.len() < 352 {
        return Err(format!("file too short for a NIfTI-1 header ({} bytes)", b.len()));
    }
    let le = if rd_i32(b, 0, true) == 348 {
        true
    } else if rd_i32(b, 0, false) == 348 {
        false
    } else {
        return Err("not a NIfTI-1 file (sizeof_hdr != 348)".into());
    };
    if &b[344..347] != b"n+1" && &b[344..347] != b"ni1" {
        return Err("missing NIfTI-1 magic".into());
    }
    let ndim = rd_i16(b, 40, le);
    if !(3..=7).contains(&ndim) {
        return Err(format!("expected a 3-D volume, dim[0] = {ndim}"));
    }
    let mut dim = [0usize; 3];
    for (a, d) in dim.iter_mut().enumerate() {
        let v = rd_i16(b, 42 + 2 * a, le);
        if v <= 0 {
            return Err(format!("bad dimension {v}"));
        }
        *d = v as usize;
    }
    for a in 3..ndim as usize {
        if rd_i16(b, 42 + 2 * a, le) > 1 {
            return Err("4-D and higher volumes are not supported".into());
        }
    }
    let datatype = rd_i16(b, 70, le);
    let pixdim = [rd_f32(b, 80, le).abs(), rd_f32(b, 84, le).abs(), rd_f32(b, 88, le).abs()];
    let vox_offset = rd_f32(b, 108, le) as usize;
    let mut slope = rd_f32(b, 112, le);
    let inter = rd_f32(b, 116, le);
    if slope == 0.0 || !slope.is_finite() {
        slope = 1.0;
    }
    let sform_code = rd_i16(b, 254, le);
    let mut srow = [[0f32; 4]; 3];
    if sform_code > 0 {
        for (r, row) in srow.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = rd_f32(b, 280 + 16 * r + 4 * c, le);
            }
        }
    } else {
        for a in 0..3 {
            srow[a][a] = pixdim[a];
        }
    }
    let n = dim[0] * dim[1] * dim[2];
    let (bpv, conv): (usize, fn(&[u8], bool) -> f32) = match datatype {
        2 => (1, |s, _| s[0] as f32),
        256 => (1, |s, _| s[0] as i8 as f32),
        4 => (2, |s, le| rd_i16(s, 0, le) as f32),
        512 => (2, |s, le| {
            let a = [s[0], s[1]];
            (if le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) }) as f32
        }),
        8 => (4, |s, le| rd_i32(s, 0, le) as f32),
        16 => (4, |s, le| rd_f32(s, 0, le)),
        t => return Err(format!("unsupported NIfTI datatype {t}")),
    };
    let need = vox_offset + n * bpv;
    if b.len() < need {
        return Err(format!("truncated voxel data: need {need} bytes, have {}", b.len()));
    }
    let data = b[vox_offset..need].chunks_exact(bpv).map(|s| conv(s, le) * slope + inter).collect();
    Ok(NiftiVolume { dim, pixdim, srow, data })
}
