//! wampyard-loadgen: a load generator for any WAMP router.
//!
//! This is a skeleton: the scenarios (pubsub, rpc, connect, idle) arrive with the benchmarking
//! issue. Today it only explains that.

fn main() {
    eprintln!("wampyard-loadgen: no scenarios yet; see the README's roadmap");
    std::process::exit(2);
}
