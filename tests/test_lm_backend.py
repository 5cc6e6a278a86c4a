"""The cached lm-eval backend gives HFLM's log-likelihoods (within 1e-4) and the same per-document metrics, on every
local task, for a GPT-2-style and a Llama-style model, with a BOS-adding and a non-BOS tokenizer; on edge-case
requests (empty context, trailing space, left truncation, shared sentence prefixes) for every supported family; and,
with whole sequences, for the interventions that look at a whole sequence (restored super activation, SA-aware W8A8)."""
import contextlib

import pytest
import torch
import transformers as tf
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from superweight.scoring.zeroshot import TASKS, materialize_tasks, task_manager
from superweight.scoring.backends import eval_backend, whole_sequence
from superweight.scoring.cached_backend import CachedLM, build_lm
from superweight.scoring.logprobs import rows_per_chunk
from superweight.interventions.edits import zero_weights
from superweight.interventions.restore import RestoreSuperActivation
from superweight.quant.w8a8 import W8A8, sa_channels
from tiny import CONFIGS, H, I, plant

DOCS = 3  # documents per task
TOL = 1e-4

EXTRA = {  # supported families tests/tiny.py does not build; small sliding windows exercise sliding-window caches
    "qwen3": lambda: tf.Qwen3Config(hidden_size=H, intermediate_size=I, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, head_dim=8, max_position_embeddings=256),
    "gemma2": lambda: tf.Gemma2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=1, head_dim=8, max_position_embeddings=256, sliding_window=16),
    "gemma3_text": lambda: tf.Gemma3TextConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=1, head_dim=8,
                                               max_position_embeddings=256, sliding_window=16),
    "olmo2": lambda: tf.Olmo2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=2, num_attention_heads=4,
                                    max_position_embeddings=256, pad_token_id=0),
    "falcon": lambda: tf.FalconConfig(hidden_size=H, num_hidden_layers=2, num_attention_heads=4,
                                      max_position_embeddings=256),
    "falcon_alibi": lambda: tf.FalconConfig(hidden_size=H, num_hidden_layers=2, num_attention_heads=4, alibi=True,
                                            max_position_embeddings=256),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not fight the other tests' threads)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tokenizers(data_dir):
    """A small byte-level BPE trained on WikiText-2 lines: GPT-2 style (no BOS added; BOS = EOS =
    <|endoftext|>) and Llama style (a <s> post-processor adds BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    lines = [x for x in (data_dir / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()[:1500]
             if x.strip()]
    out = {}
    for bos in (False, True):
        t = Tokenizer(models.BPE())
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        special = ["<|endoftext|>"] + (["<s>"] if bos else [])
        t.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=500, special_tokens=special, show_progress=False,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        if bos:
            t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        out["bos" if bos else "nobos"] = tf.PreTrainedTokenizerFast(
            tokenizer_object=t, bos_token="<s>" if bos else "<|endoftext|>", eos_token="<|endoftext|>")
    assert out["bos"].encode("a b")[0] == 1 and out["nobos"].encode("a b")[0] != 0
    return out


def _model(family, vocab, seed=0):
    cfg = (CONFIGS.get(family) or EXTRA[family])()
    cfg.vocab_size = vocab
    torch.manual_seed(seed)
    try:  # sdpa, as real models load (its fully masked padding rows are the case to check), else eager
        return tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").eval()
    except ValueError:
        torch.manual_seed(seed)
        return tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def task_requests(data_dir, tmp_path_factory):
    """{task: (task object, its instances for the first DOCS documents)}, built once by lm-eval."""
    task_dir = materialize_tasks(data_dir, tmp_path_factory.mktemp("tasks"))
    for name in TASKS:  # keep the first documents only: lm-eval then processes just those
        f = task_dir / f"{name}.jsonl"
        f.write_text("".join(f.read_text(encoding="utf-8").splitlines(keepends=True)[:DOCS]), encoding="utf-8")
    tm = task_manager(task_dir)
    out = {}
    for name in TASKS:
        task = tm.load_task_or_group([name])[name]
        task.build_all_requests(limit=DOCS)
        out[name] = (task, list(task.instances))
    return out


def _metrics(task, instances, answers):
    """lm-eval's own per-document metrics (task.process_results) from the answers."""
    by_doc = {}
    for inst, ans in zip(instances, answers):
        by_doc.setdefault(inst.doc_id, []).append((inst.idx, inst.doc, ans))
    out = {}
    for doc_id, rows in sorted(by_doc.items()):
        rows.sort(key=lambda r: r[0])
        out[doc_id] = task.process_results(rows[0][1], [r[2] for r in rows])
    return out


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("tokenizer,add_bos_token", [("nobos", False), ("bos", None), ("bos", False), ("bos", True)])
def test_equals_hflm_on_every_task(task_requests, tokenizers, family, tokenizer, add_bos_token):
    tok = tokenizers[tokenizer]
    model = _model(family, len(tok))
    hf = HFLM(pretrained=model, tokenizer=tok, batch_size=4, add_bos_token=add_bos_token)
    cached = CachedLM(model, tok, batch_size=4, add_bos_token=add_bos_token)
    for name, (task, insts) in task_requests.items():
        want = hf.loglikelihood(insts, disable_tqdm=True)
        got = cached.loglikelihood(insts, disable_tqdm=True)
        diff = max(abs(a[0] - b[0]) for a, b in zip(want, got))
        assert diff <= TOL, f"{name}: max |delta loglik| {diff:.2e}"
        assert [a[1] for a in want] == [b[1] for b in got], name
        m_got, m_want = _metrics(task, insts, got), _metrics(task, insts, want)
        assert m_got.keys() == m_want.keys(), name
        for d in m_want:  # acc / acc_norm exactly; lambada's per-document log-likelihood within TOL
            assert m_got[d] == pytest.approx(m_want[d], abs=TOL), (name, d)
    # each multiple-choice context ran once: fewer tokens than HFLM's one sequence per request
    assert cached.stats["tokens"] < 0.7 * cached.stats["request_tokens"]


def _edge_requests():
    texts = ["The quick brown fox jumps over the lazy dog because it was",
             "Question: what is the capital of France?\nAnswer:",
             "In 1990 the company released a new product line that " * 6]  # truncated at max_length 40
    reqs = []
    for d, c in enumerate(texts):
        for cont in [" Paris", " a very long continuation of several tokens here", " dog", "!"]:
            reqs.append(((c, cont), d))
        reqs.append(((c + " ", "yes"), d))  # the trailing space moves to the continuation
    reqs += [(("", "Hello there"), 10), (("", "<|endoftext|>Hello"), 11),  # empty contexts
             (("The trophy does not fit because the trophy", " is too big."), 12),  # Winogrande-like: contexts
             (("The trophy does not fit because the suitcase", " is too big."), 12)]  # share a prefix
    return [Instance("loglikelihood", {}, args, i, ("edge", d, 1)) for i, (args, d) in enumerate(reqs)]


@pytest.mark.parametrize("family", sorted(CONFIGS) + sorted(EXTRA))
def test_equals_hflm_for_every_family(tokenizers, family):
    tok = tokenizers["bos"]
    model = _model(family, len(tok))
    insts = _edge_requests()
    for max_length in (None, 40):
        want = HFLM(pretrained=model, tokenizer=tok, batch_size=3, max_length=max_length).loglikelihood(insts, True)
        got = CachedLM(model, tok, batch_size=3, max_length=max_length).loglikelihood(insts, True)
        assert max(abs(a[0] - b[0]) for a, b in zip(want, got)) <= TOL
        assert [a[1] for a in want] == [b[1] for b in got]


def test_context_runs_once_and_head_only_at_scored_tokens(tokenizers):
    """A 4-choice document: the shared prefix is computed once; the LM head sees only continuation tokens, at
    most one chunk of rows at a time (no (batch, positions, vocabulary) tensor)."""
    tok = tokenizers["nobos"]
    model = _model("llama", len(tok))
    ctx = "Question: which planet is known as the red planet?\nAnswer:"
    conts = [" Mars", " Venus", " Jupiter the gas giant", " Mercury"]
    insts = [Instance("loglikelihood", {}, (ctx, c), i, ("t", 0, 1)) for i, c in enumerate(conts)]
    rows = []
    handle = model.get_output_embeddings().register_forward_hook(lambda m, a, o: rows.append(a[0].shape[:-1].numel()))
    lm = CachedLM(model, tok, batch_size=8)
    lm.loglikelihood(insts, disable_tqdm=True)
    handle.remove()
    n_ctx = len(tok.encode(ctx))
    n_cont = [len(tok.encode(ctx + c)) - n_ctx for c in conts]
    assert lm.stats["tokens"] == n_ctx + sum(n - 1 for n in n_cont)  # the context once, then each cont[:-1]
    assert sum(rows) == sum(n_cont) and max(rows) <= rows_per_chunk(len(tok))


def test_unsupported_request_types_name_the_fix(tokenizers):
    lm = CachedLM(_model("gpt2", len(tokenizers["nobos"])), tokenizers["nobos"])
    for call in (lm.loglikelihood_rolling, lm.generate_until):
        with pytest.raises(NotImplementedError, match="eval.backend: hf"):
            call([])
    with pytest.raises(ValueError, match="eval.backend must be one of hf, cached"):
        build_lm(None, None, "vllm")


def test_sequence_level_interventions_use_whole_sequences():
    assert whole_sequence("ablation", {"condition": "prune_sw_restore_sa"}, "max")
    assert eval_backend("ablation", {"condition": "prune_sw_restore_sa"}, "cached", "max") == "cached_whole"
    assert eval_backend("aquant", {"method": "sa_aware"}, "cached") == "cached_alone"
    for kind, spec in [("ablation", {"condition": "original"}), ("ablation", {"condition": "prune_sw"}),
                       ("scaling", {"factor": 2.0}), ("aquant", {"method": "naive"}), ("aquant", {"method": "fp"})]:
        assert eval_backend(kind, spec, "cached", "max") == "cached"
    # every token restored: causal
    assert eval_backend("ablation", {"condition": "prune_sw_restore_sa"}, "cached", "all") == "cached"
    assert eval_backend("aquant", {"method": "sa_aware"}, "hf") == "hf"


def _restore(model, sws):
    """prune_sw_restore_sa (tokens max) on ``model``: the hooks' context."""
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    return restore


def _sa_aware(model, sws):
    return W8A8(model, 8, sa_channels(model, sws))


@pytest.mark.parametrize("edit,sws,backend", [(_restore, [(1, 5, 17)], "cached_whole"),
                                              (_restore, [(1, 5, 17), (2, 5, 30)], "cached_whole"),
                                              (_sa_aware, [(1, 5, 17)], "cached_alone")],
                         ids=["restore_one_layer", "restore_two_layers", "w8a8_sa_aware"])
def test_whole_sequence_interventions_equal_hflm(task_requests, tokenizers, edit, sws, backend):
    """A planted super weight; restore_tokens max (an argmax over each sequence's tokens) or SA-aware W8A8 (an
    argmax over each sequence, a median over the batch tensor): the cached backend with whole sequences gives, per
    request, HFLM's log-likelihood and greedy flag (HFLM at batch size 1: its batches right-pad every sequence with
    token 0 and no attention mask, so at larger batch sizes the padding joins each sequence's argmax and the median),
    and per document lm-eval's accuracies."""
    tok = tokenizers["nobos"]
    model = _model("llama", len(tok))
    for sw in sws:
        plant(model, *sw)
    with contextlib.ExitStack() as stack, torch.no_grad():
        stack.enter_context(edit(model, sws))
        hf = HFLM(pretrained=model, tokenizer=tok, batch_size=1, add_bos_token=False)
        whole = build_lm(model, tok, backend, batch_size=4, add_bos_token=False)
        assert isinstance(whole, CachedLM) and whole.whole_sequences
        worst = 0.0
        for name, (task, insts) in task_requests.items():
            want = hf.loglikelihood(insts, disable_tqdm=True)
            got = whole.loglikelihood(insts, disable_tqdm=True)
            worst = max(worst, max(abs(a[0] - b[0]) for a, b in zip(want, got)))
            assert [a[1] for a in want] == [b[1] for b in got], name
            m_got, m_want = _metrics(task, insts, got), _metrics(task, insts, want)
            for d in m_want:
                assert m_got[d] == pytest.approx(m_want[d], abs=TOL), (name, d)
        assert worst <= TOL, f"max |delta loglik| {worst:.2e}"
        # one-token continuations of one context have the same model input: one forward for both
        pair = [Instance("loglikelihood", {}, ("Is it so", c), i, ("t", 0, 1)) for i, c in enumerate("!?")]
        n = whole.stats["forwards"]
        got = whole.loglikelihood(pair, disable_tqdm=True)
        assert whole.stats["forwards"] == n + 1
        assert got == pytest.approx(hf.loglikelihood(pair, disable_tqdm=True), abs=TOL)
