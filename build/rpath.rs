//! Shared build script for every crate whose binaries link libtorch: it records the
//! directory of the libtorch that torch-sys linked as an rpath, so `cargo test`,
//! `cargo run` and `target/*/akin` find the shared libraries without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib_dir = std::fs::canonicalize(&lib_dir).unwrap_or_else(|_| lib_dir.into());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
}
