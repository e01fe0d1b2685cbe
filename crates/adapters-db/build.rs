//! Re-embed the migrations whenever one is added or changed: the
//! `embed_migrations!` macro alone does not tell cargo to watch them.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
