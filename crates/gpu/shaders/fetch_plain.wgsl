// Term lattices loaded by each invocation itself: on adapters without subgroups, for plans with
// fewer terms than a subgroup chunk, with tricubic interpolation and for the trace
// (context.rs, `fetch_for`). Also the only variant that interpolates F and records a trace.

const TERM_CHUNK: u32 = 1u;

fn sum_chunk(acc_in: TermSum, t0: u32, terms: u32, first: bool, live: bool, s: W3, k: f32, weight: f32, tracing: bool) -> TermSum {
    var lat = Lattice(params.lattice0_a, params.lattice0_b, params.lattice0_c);
    if !ONE_TERM {
        lat = lattice_from_words(lattices[select(0u, terms, first) + t0]);
    }
    var acc = acc_in;
    let term = evaluate_term(lat, s, live);
    let domain = t0 % params.domains;
    if TRACE && tracing && live && domain == 0u {
        trace_term(t0 / params.domains, lat, s, term.m, term.lf);
    }
    var f_cell = nearest_f(term.m.h0);
    if INTERPOLATE && acc.interpolate && term.kept {
        let t = tricubic_f(term.m.h);
        f_cell = select(f_cell, t.f, t.inside);
        acc.left_grid = acc.left_grid || !t.inside;
        acc.interpolate = t.inside || !ONE_SHOT;
    }
    if TRACE && tracing && t0 == 0u && term.kept {
        trace_f(T_F_CELL, f_cell);
    }
    return accumulate(acc, term, f_cell, k, weight);
}

@compute @workgroup_size(256)
fn render(@builtin(global_invocation_id) gid: vec3<u32>) {
    render_invocation(gid.x);
}
