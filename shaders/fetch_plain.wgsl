// Term lattices loaded by each invocation itself: on adapters without subgroups, and for plans
// with fewer terms than a subgroup chunk (context.rs, `fetch_for`).

const TERM_CHUNK: u32 = 1u;

fn sum_chunk(acc_in: TermSum, t0: u32, terms: u32, first: bool, live: bool, s: W3, k: f32, weight: f32, tracing: bool) -> TermSum {
    var lat = Lattice(params.lattice0_a, params.lattice0_b, params.lattice0_c);
    if !ONE_TERM {
        lat = lattice_from_words(lattices[select(0u, terms, first) + t0]);
    }
    return add_term(acc_in, lat, t0, live, s, k, weight, tracing);
}

@compute @workgroup_size(256)
fn render(@builtin(global_invocation_id) gid: vec3<u32>) {
    render_invocation(gid.x);
}
