//! Finding the CUDA libraries and compiling the kernels: whether libcuda
//! and libnvrtc load, the kernel sources, and their compile to PTX. Needs
//! no GPU, so CI checks every kernel compiles.

use crate::live::LiveError;

/// Kernel files and their sources, each prefixed with `common.cuh`.
pub fn sources() -> [(&'static str, String); 3] {
    let common = include_str!("../../../kernels/common.cuh");
    [
        ("gemm.cu", format!("{common}{}", include_str!("../../../kernels/gemm.cu"))),
        ("attention.cu", format!("{common}{}", include_str!("../../../kernels/attention.cu"))),
        ("elementwise.cu", format!("{common}{}", include_str!("../../../kernels/elementwise.cu"))),
    ]
}

/// Whether libnvrtc can be loaded (cudarc would panic on first use if not).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Whether libcuda (the driver) can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether the CUDA executor can start here: libcuda and libnvrtc load.
/// (Whether a device exists is known only once the driver is asked.)
pub fn available() -> Result<(), LiveError> {
    if !driver_present() {
        return Err(LiveError::NoCuda("libcuda.so not loadable".into()));
    }
    if !nvrtc_present() {
        return Err(LiveError::NoCuda("libnvrtc.so not loadable".into()));
    }
    Ok(())
}

/// Compiles every kernel file to PTX for `compute_<arch>` (e.g. "90").
/// Errors carry NVRTC's log. Needs only libnvrtc, no GPU.
pub fn compile(arch: &str) -> Result<Vec<(&'static str, cudarc::nvrtc::Ptx)>, LiveError> {
    if !nvrtc_present() {
        return Err(LiveError::NoCuda("libnvrtc.so not loadable (NVRTC is needed to compile kernels/)".into()));
    }
    sources()
        .into_iter()
        .map(|(name, src)| {
            let opts = cudarc::nvrtc::CompileOptions {
                options: vec![format!("--gpu-architecture=compute_{arch}"), "-lineinfo".into()],
                name: Some(name.into()),
                ..Default::default()
            };
            cudarc::nvrtc::compile_ptx_with_opts(src, opts)
                .map(|ptx| (name, ptx))
                .map_err(|e| LiveError::Cuda(format!("compiling kernels/{name}: {e}")))
        })
        .collect()
}
