#!/usr/bin/env python3
# Writes random but mostly well-formed PTX modules (random opcodes from the interpreter's
# repertoire with operands of every kind) for hardening runs of the interpreter fuzz targets:
#   gen_random_ptx.py FIRST LAST OUTDIR   then   fuzz_ptx_exec --runs 0 OUTDIR
# (the fuzz driver reads at most 256 seeds per folder). Deterministic per module number.
import os, random, sys
ops = ["add.s32","add.f32","sub.u64","mul.lo.s32","mul.wide.s32","mad.lo.s32","mad.hi.u32","div.s32","rem.u32","abs.s32","neg.f32","min.u32","max.f64",
"and.b32","or.pred","xor.b64","not.b32","shl.b32","shr.s32","popc.b32","clz.b64","brev.b32","bfe.u32","bfi.b32","prmt.b32","shf.l.wrap.b32","lop3.b32","bfind.u32",
"fma.rn.f32","rcp.rn.f32","sqrt.rn.f64","rsqrt.approx.f32","ex2.approx.f32","lg2.approx.f32","sin.approx.f32","tanh.approx.f32","copysign.f32","testp.finite.f32",
"setp.lt.s32","setp.gtu.and.f32","set.lt.u32.f32","selp.b32","slct.s32.s32","cvt.rn.f32.s32","cvt.rzi.s32.f32","cvt.u64.u32","cvt.rn.f32.f16","cvta.to.global.u64","cvta.shared.u64",
"mov.u32","mov.b64","ld.global.u32","ld.shared.v2.u32","ld.local.u8","ld.param.u64","ld.v4.f32","st.global.f32","st.shared.u32","st.local.v2.u64","st.u32",
"atom.global.add.u32","atom.shared.cas.b32","red.global.add.f32","atom.exch.b64","shfl.sync.bfly.b32","vote.sync.ballot.b32","match.any.sync.b32","activemask.b32",
"redux.sync.add.u32","bar.sync","bar.red.popc.u32","bar.arrive","membar.gl","isspacep.global","add.f16x2","fma.rn.bf16","mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
"wmma.load.a.sync.aligned.row.m16n16k16.global.f16","wmma.mma.sync.aligned.row.col.m16n16k16.f32.f32","wmma.store.d.sync.aligned.row.m16n16k16.global.f32",
"cp.async.ca.shared.global","vabsdiff4.u32.u32.u32","dp4a.u32.u32","exit","ret","trap","bra"]
def reg(): return random.choice(["%r","%rd","%f","%fd","%p","%h"]) + str(random.randint(0,7))
def opnd():
    k = random.randint(0,9)
    if k < 4: return reg()
    if k == 4: return str(random.choice([0,1,-1,3,31,32,64,0x7fffffff,-2147483648,4096]))
    if k == 5: return random.choice(["0f3F800000","0d3FF0000000000000","0f7FC00000"])
    if k == 6: return "[" + random.choice(["%rd1","%rd2","sm","%r1","g"]) + random.choice(["","+4","+-8","+4096"]) + "]"
    if k == 7: return "{" + ", ".join(reg() for _ in range(random.choice([2,4,8]))) + "}"
    if k == 8: return random.choice(["%tid.x","%laneid","%ctaid.y","%envreg1","sm","g","_"])
    return reg() + "|" + "%p" + str(random.randint(0,7))
def module(seed):
    random.seed(seed)
    out = [".version 8.0", ".target sm_80", ".address_size 64", ".global .align 8 .b8 g[64];",
           ".visible .entry k(.param .u64 p0, .param .u32 p1)", "{",
           ".reg .b32 %r<8>;", ".reg .b64 %rd<8>;", ".reg .f32 %f<8>;", ".reg .f64 %fd<8>;", ".reg .pred %p<8>;", ".reg .b16 %h<8>;",
           ".shared .align 16 .b8 sm[256];", ".local .align 8 .b8 loc[64];",
           "ld.param.u64 %rd1, [p0];", "mov.u64 %rd2, g;"]
    for i in range(random.randint(3, 12)):
        if random.random() < 0.1: out.append("$L%d:" % i)
        op = random.choice(ops)
        g = random.choice(["", "", "", "@%p1 ", "@!%p2 "])
        if op == "bra":
            out.append(g + "bra $L%d;" % random.randint(0, 45))
            continue
        base = op.split(".")[0]
        ar = {"abs":2,"neg":2,"not":2,"popc":2,"clz":2,"brev":2,"bfind":2,"rcp":2,"sqrt":2,"rsqrt":2,"ex2":2,"lg2":2,"sin":2,"tanh":2,"testp":2,"cvt":2,"cvta":2,"mov":2,"isspacep":2,
              "mad":4,"fma":4,"selp":4,"slct":4,"bfe":4,"prmt":4,"shf":4,"dp4a":4,"vabsdiff4":4,"bfi":5,"lop3":5,"shfl":5,"vote":3,"match":3,"redux":3,"activemask":1,
              "ld":2,"st":2,"atom":3,"red":2,"bar":1,"membar":0,"exit":0,"ret":0,"trap":0,"mma":4,"wmma":3,"cp":3}.get(base, 3)
        if random.random() < 0.02: ar += random.choice([-1, 1])
        ops_ = []
        for j in range(max(ar, 0)):
            if base in ("ld",) and j == 1 or base in ("st","red","cp") and j == 0 or base == "atom" and j == 1 or base == "wmma" and j == (0 if "store" in op else 1) or base == "cp" and j == 1:
                ops_.append("[" + random.choice(["%rd1","%rd2","sm","%r1","g","loc"]) + random.choice(["","+4","+-8","+16"]) + "]")
            elif base in ("mma","wmma") and random.random() < 0.9:
                ops_.append("{" + ", ".join(random.choice(["%r","%f"]) + str(random.randint(0,7)) for _ in range(random.choice([1,2,4,8]))) + "}")
            elif j == 0 or random.random() < 0.85:
                ops_.append(reg() if j == 0 or random.random() < 0.6 else str(random.choice([0,1,-1,3,31,32,0x7fffffff,16,-2147483648,-9223372036854775808,9223372036854775807,63,64])))
            else:
                ops_.append(opnd())
        out.append(g + op + " " + ", ".join(ops_) + ";")
    for i in range(46): out.append("$L%d:" % i) if ("$L%d:" % i) not in out else None
    out += ["ret;", "}"]
    return "\n".join(out) + "\n"
out_dir = sys.argv[3]
os.makedirs(out_dir, exist_ok=True)
for s in range(int(sys.argv[1]), int(sys.argv[2])):
    with open(os.path.join(out_dir, "m%05d.ptx" % s), "w") as f:
        f.write(module(s))
