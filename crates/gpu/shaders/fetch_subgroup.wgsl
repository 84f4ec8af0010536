// Term lattices fetched through subgroup broadcasts (adapters with SUBGROUP; naga takes the
// subgroup built-ins without an `enable` directive when the device has the feature).
//
// Every invocation needs the same lattice for a term. A driver that cannot tell the index is
// uniform loads it lane by lane (llvmpipe: a per-lane loop with a bounds check for each of the
// 9 values, which made the loads the largest cost of a term). Here lane i of a subgroup loads
// term t0 + i of a chunk of TERM_CHUNK terms, once, and every lane reads each term from its
// owner by broadcast. Needs a subgroup of at least TERM_CHUNK invocations, all of them
// reaching sum_chunk together (render_invocation keeps control flow uniform).
//
// shader.rs repeats the block between `// per lane {` and `// }` for LANE = 0 … TERM_CHUNK − 1
// (a broadcast's lane must be a constant). To keep those copies small this variant neither
// interpolates F nor records a trace: such jobs get the plain variant (context.rs `fetch_for`).

const TERM_CHUNK: u32 = 4u;

var<private> lane: u32;

fn pick_w3(regular: W3, first_set: W3, first: bool) -> W3 {
    return W3(select(regular.x, first_set.x, first), select(regular.y, first_set.y, first), select(regular.z, first_set.z, first));
}

fn pick_lattice(regular: Lattice, first_set: Lattice, first: bool) -> Lattice {
    return Lattice(pick_w3(regular.a, first_set.a, first), pick_w3(regular.b, first_set.b, first), pick_w3(regular.c, first_set.c, first));
}

fn sum_chunk(acc_in: TermSum, t0: u32, terms: u32, first: bool, live: bool, s: W3, k: f32, weight: f32, tracing: bool) -> TermSum {
    let t = min(t0 + lane, terms - 1u);
    // only the chunk's owners load (a driver that loads lane by lane skips the others)
    let owner = lane < TERM_CHUNK;
    var mine = Lattice(params.lattice0_a, params.lattice0_b, params.lattice0_c);
    if owner {
        mine = lattice_from_words(lattices[t]);
    }
    var mine_first = mine;
    if FIRST_TERM && owner {
        mine_first = lattice_from_words(lattices[terms + t]);
    }
    var acc = acc_in;
    // per lane {
    {
        let regular = Lattice(
            W3(subgroupBroadcast(mine.a.x, LANEu), subgroupBroadcast(mine.a.y, LANEu), subgroupBroadcast(mine.a.z, LANEu)),
            W3(subgroupBroadcast(mine.b.x, LANEu), subgroupBroadcast(mine.b.y, LANEu), subgroupBroadcast(mine.b.z, LANEu)),
            W3(subgroupBroadcast(mine.c.x, LANEu), subgroupBroadcast(mine.c.y, LANEu), subgroupBroadcast(mine.c.z, LANEu)),
        );
        let first_set = Lattice(
            W3(subgroupBroadcast(mine_first.a.x, LANEu), subgroupBroadcast(mine_first.a.y, LANEu), subgroupBroadcast(mine_first.a.z, LANEu)),
            W3(subgroupBroadcast(mine_first.b.x, LANEu), subgroupBroadcast(mine_first.b.y, LANEu), subgroupBroadcast(mine_first.b.z, LANEu)),
            W3(subgroupBroadcast(mine_first.c.x, LANEu), subgroupBroadcast(mine_first.c.y, LANEu), subgroupBroadcast(mine_first.c.z, LANEu)),
        );
        let term = evaluate_term(pick_lattice(regular, first_set, first), s, live && t0 + LANEu < terms);
        acc = accumulate(acc, term, nearest_f(term.m.h0), k, weight);
    }
    // }
    return acc;
}

@compute @workgroup_size(256)
fn render(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) subgroup_lane: u32) {
    lane = subgroup_lane;
    render_invocation(gid.x);
}
