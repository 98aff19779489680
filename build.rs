//! Rebuilds the desk when a file under `web/` changes: the pages are embedded in the
//! binary, and cargo does not see files that only a macro reads.
fn main() {
    println!("cargo:rerun-if-changed=web");
}
