"""Architecture adapters: where each model family keeps its decoder layers and MLP down projection, and the
family knowledge the rest of the library needs (tuple outputs, flattened MLP inputs, running from layer k, running
only the first n layers, running without the LM head).

Coordinates are always (layer, row, col) of the equivalent ``nn.Linear`` weight: row = output
(residual) channel, col = input (intermediate) channel, whatever the storage orientation.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: config checks on the submit host read this table without it
    import torch
    from torch import nn


class UnsupportedModelError(ValueError):
    """The model's family has no adapter."""


@dataclass(frozen=True)
class Adapter:
    family: str
    model_types: tuple[str, ...]
    layers_path: str  # attribute path from the causal-LM module to the decoder layer list
    down_path: str  # attribute path from a decoder layer to the MLP down projection
    transposed: bool = False  # True for GPT-2's Conv1D, which stores weight as (in, out)
    # W8A8: the projection (path within a decoder layer) each role's input enters; roles q, k, v, o, gate, up, down.
    # A fused projection serves several roles (Phi-3's qkv_proj: q, k, v); a role the family lacks is absent.
    roles: tuple[tuple[str, str], ...] = ()
    # SmoothQuant: (norm, projections reading its output), for families whose norms are a plain x * weight
    smooth_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Mechanism analyses: the MLP's parts (paths within a decoder layer). Gated MLPs: down input = act(gate) * up;
    # plain MLPs (gate_path None): down input = act(up). ``fused_gate_up``: one projection holds [gate | up] (Phi-3).
    up_path: str = "mlp.up_proj"
    gate_path: str | None = "mlp.gate_proj"
    act_path: str = "mlp.act_fn"
    fused_gate_up: bool = False
    # the module whose output is added to the residual stream: the first of these the layer has
    # (post-norm layers such as Gemma-2/3 and OLMo-2 normalize the MLP output before the residual add)
    mlp_out_paths: tuple[str, ...] = ("post_feedforward_layernorm", "mlp")
    # the modules between the last decoder layer and the LM head, in order (paths from the causal-LM module); a
    # path whose module is None in this model is skipped (OPT without a final norm or an output projection)
    final_paths: tuple[str, ...] = ("model.norm",)

    def layers(self, model: nn.Module) -> nn.ModuleList:
        return module_at(model, self.layers_path)

    def down_proj(self, model: nn.Module, layer: int) -> nn.Module:
        layers = self.layers(model)
        if not 0 <= layer < len(layers):
            raise IndexError(f"layer {layer} out of range: the model has {len(layers)} decoder layers (0..{len(layers) - 1})")
        return module_at(layers[layer], self.down_path)

    def down_shape(self, model: nn.Module) -> tuple[int, int]:
        """(out_features, in_features) of the down projection, as an nn.Linear would have them."""
        w = self.down_proj(model, 0).weight
        return (w.shape[1], w.shape[0]) if self.transposed else (w.shape[0], w.shape[1])

    def check_coord(self, model: nn.Module, layer: int, row: int, col: int) -> None:
        n_layers = len(self.layers(model))
        out_f, in_f = self.down_shape(model)
        problems = []
        if not 0 <= layer < n_layers:
            problems.append(f"layer {layer} not in 0..{n_layers - 1}")
        if not 0 <= row < out_f:
            problems.append(f"row {row} not in 0..{out_f - 1} (output channels)")
        if not 0 <= col < in_f:
            problems.append(f"col {col} not in 0..{in_f - 1} (input channels)")
        if problems:
            raise IndexError(
                f"super-weight coordinate ({layer}, {row}, {col}) does not fit this model: " + "; ".join(problems)
                + ". Fix the coordinate in config (layer, row = output channel, col = input channel of the down projection)."
            )

    def _index(self, row: int, col: int) -> tuple[int, int]:
        return (col, row) if self.transposed else (row, col)

    def get_weight(self, model: nn.Module, layer: int, row: int, col: int) -> float:
        self.check_coord(model, layer, row, col)
        return float(self.down_proj(model, layer).weight[self._index(row, col)].item())

    def set_weight(self, model: nn.Module, layer: int, row: int, col: int, value: float | torch.Tensor) -> None:
        import torch

        self.check_coord(model, layer, row, col)
        with torch.no_grad():
            self.down_proj(model, layer).weight[self._index(row, col)] = value

    def down_row(self, model: nn.Module, layer: int, row: int) -> torch.Tensor:
        """The weights feeding output channel ``row`` (length in_features)."""
        w = self.down_proj(model, layer).weight
        return w[:, row] if self.transposed else w[row]

    def role_paths(self, roles) -> tuple[str, ...]:
        """The distinct projections serving ``roles``, in the adapter's order. A fused projection is taken only
        with all of its roles: its input (or output) cannot be quantized for one of them alone."""
        wanted, out = set(roles), []
        for role, path in self.roles:
            serves = {r for r, p in self.roles if p == path}
            if path in out or not serves & wanted:
                continue
            if not serves <= wanted:
                raise ValueError(f"the {self.family} family fuses roles {sorted(serves)} in {path}: list all of them "
                                 f"or none (got {sorted(wanted & serves)})")
            out.append(path)
        return tuple(out)

    def residual_readers(self, roles=("q", "k", "v", "gate", "up")) -> tuple[str, ...]:
        """The projections among ``roles`` that read the (normed) residual stream: q/k/v and gate/up."""
        return self.role_paths(set(roles) & {"q", "k", "v", "gate", "up"})

    def layer_module(self, model: nn.Module, layer: int, path: str) -> nn.Module:
        """A module inside decoder layer ``layer`` by its path."""
        return module_at(self.layers(model)[layer], path)

    def mlp_out(self, model: nn.Module, layer: int) -> nn.Module:
        """The module whose output the layer adds to the residual stream (the MLP's contribution)."""
        block = self.layers(model)[layer]
        for path in self.mlp_out_paths:
            try:
                return module_at(block, path)
            except AttributeError:
                continue
        raise AttributeError(f"{self.family} layer {layer} has none of {self.mlp_out_paths}")

    def final_modules(self, model: nn.Module) -> list[nn.Module]:
        """The modules the last decoder layer's output passes through before the LM head (final norm, OPT's
        output projection)."""
        mods = [module_at(model, p) for p in self.final_paths]
        return [m for m in mods if m is not None]

    def linear_modules(self, model: nn.Module):
        """(name, module, transposed) for every linear weight inside the decoder layers (norms excluded)."""
        from torch import nn
        from transformers.pytorch_utils import Conv1D

        for i, layer in enumerate(self.layers(model)):
            for name, mod in layer.named_modules():
                if isinstance(mod, nn.Linear):
                    yield f"{self.layers_path}.{i}.{name}", mod, False
                elif isinstance(mod, Conv1D):
                    yield f"{self.layers_path}.{i}.{name}", mod, True


_LLAMA_ROLES = (("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                ("o", "self_attn.o_proj"), ("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"), ("down", "mlp.down_proj"))

ADAPTERS: tuple[Adapter, ...] = (
    Adapter("llama", ("llama", "mistral", "qwen2", "qwen3"), "model.layers", "mlp.down_proj", roles=_LLAMA_ROLES,
            smooth_groups=(("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
                           ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")))),
    # Gemma's norms scale by (1 + weight) and OLMo's LayerNorm has none: no SmoothQuant folding for them
    Adapter("gemma", ("gemma", "gemma2", "gemma3_text"), "model.layers", "mlp.down_proj", roles=_LLAMA_ROLES),
    Adapter("olmo", ("olmo", "olmo2"), "model.layers", "mlp.down_proj", roles=_LLAMA_ROLES),
    Adapter("phi3", ("phi3",), "model.layers", "mlp.down_proj",
            roles=(("q", "self_attn.qkv_proj"), ("k", "self_attn.qkv_proj"), ("v", "self_attn.qkv_proj"),
                   ("o", "self_attn.o_proj"), ("gate", "mlp.gate_up_proj"), ("up", "mlp.gate_up_proj"),
                   ("down", "mlp.down_proj")),
            up_path="mlp.gate_up_proj", gate_path="mlp.gate_up_proj", act_path="mlp.activation_fn", fused_gate_up=True,
            smooth_groups=(("input_layernorm", ("self_attn.qkv_proj",)),
                           ("post_attention_layernorm", ("mlp.gate_up_proj",)))),
    Adapter("gpt2", ("gpt2",), "transformer.h", "mlp.c_proj", transposed=True,
            roles=(("q", "attn.c_attn"), ("k", "attn.c_attn"), ("v", "attn.c_attn"), ("o", "attn.c_proj"),
                   ("up", "mlp.c_fc"), ("down", "mlp.c_proj")),
            up_path="mlp.c_fc", gate_path=None, act_path="mlp.act", mlp_out_paths=("mlp",),
            final_paths=("transformer.ln_f",)),
    Adapter("opt", ("opt",), "model.decoder.layers", "fc2",
            roles=(("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                   ("o", "self_attn.out_proj"), ("up", "fc1"), ("down", "fc2")),
            up_path="fc1", gate_path=None, act_path="activation_fn", mlp_out_paths=("fc2",),
            final_paths=("model.decoder.final_layer_norm", "model.decoder.project_out")),
    Adapter("gpt_neox", ("gpt_neox",), "gpt_neox.layers", "mlp.dense_4h_to_h",
            roles=(("q", "attention.query_key_value"), ("k", "attention.query_key_value"),
                   ("v", "attention.query_key_value"), ("o", "attention.dense"), ("up", "mlp.dense_h_to_4h"),
                   ("down", "mlp.dense_4h_to_h")),
            up_path="mlp.dense_h_to_4h", gate_path=None, act_path="mlp.act", mlp_out_paths=("mlp",),
            final_paths=("gpt_neox.final_layer_norm",)),
    Adapter("falcon", ("falcon",), "transformer.h", "mlp.dense_4h_to_h",
            roles=(("q", "self_attention.query_key_value"), ("k", "self_attention.query_key_value"),
                   ("v", "self_attention.query_key_value"), ("o", "self_attention.dense"),
                   ("up", "mlp.dense_h_to_4h"), ("down", "mlp.dense_4h_to_h")),
            up_path="mlp.dense_h_to_4h", gate_path=None, act_path="mlp.act", mlp_out_paths=("mlp",),
            final_paths=("transformer.ln_f",)),
)


def supported_model_types() -> list[str]:
    return sorted(t for a in ADAPTERS for t in a.model_types)


def get_adapter(model_or_type: nn.Module | str) -> Adapter:
    """The adapter for a model (or a ``config.model_type`` string)."""
    model_type = model_or_type if isinstance(model_or_type, str) else getattr(model_or_type.config, "model_type", None)
    for a in ADAPTERS:
        if model_type in a.model_types:
            return a
    raise UnsupportedModelError(
        f"no architecture adapter for model_type {model_type!r}. Supported: {', '.join(supported_model_types())}. "
        "Add an Adapter to superweight/models/adapters.py naming its decoder layers and MLP down projection."
    )


def module_at(obj, path: str):
    """The submodule (or attribute) of ``obj`` at a dotted ``path`` such as "mlp.down_proj"."""
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def layer_output(out):
    """The hidden states a decoder layer returns: the tensor itself, or the first item of the tuple some families
    return (Falcon: hidden states, then attention outputs)."""
    return out[0] if isinstance(out, tuple) else out


def per_sequence(t: torch.Tensor, batch: int) -> torch.Tensor:
    """(batch, tokens, features) view of a module's input or output: OPT runs its MLP on (batch * tokens,
    features), every other family on (batch, tokens, features)."""
    return t.reshape(batch, -1, t.shape[-1])


def first_sequence(t: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """(tokens, features) of the first sequence, detached. A flattened (batch * tokens, features) tensor (OPT's MLP)
    is one sequence unless ``batch`` says how many it holds."""
    t = t.detach()
    if t.dim() == 3:
        return t[0]
    return t if batch is None else per_sequence(t, batch)[0]


def decoder(model: nn.Module) -> nn.Module:
    """The model without its LM head: the module holding the decoder layers (Llama's ``model.model``, GPT-2's
    ``transformer``, OPT's ``model.decoder``). Its forward takes the model's arguments and runs the embeddings, every
    decoder layer and the final norm (OPT: and its output projection); ``last_hidden_state`` is what the LM head
    reads. The causal LM's forward is this module's, then the head: hooks on it see every forward of the model."""
    parent = get_adapter(model).layers_path.rpartition(".")[0]
    return module_at(model, parent) if parent else model


def run_layers(model: nn.Module, n: int, *args, **kwargs) -> torch.Tensor:
    """``decoder(model)``'s forward on ``args``/``kwargs`` through decoder layers 0..n-1 only (then the final
    norm), without changing the model: it runs on a shallow copy of the decoder module that shares every
    parameter, buffer and submodule but holds a list of its first ``n`` layers, and the copy's ``forward`` is called
    directly, so the decoder's own hooks (a restore's, the meter's) do not see this pass; the layers' hooks do.
    Every supported family's forward loops over that list (Llama-like ``self.layers[: num_hidden_layers]``,
    GPT-2/Falcon ``self.h``, OPT, GPT-NeoX) and indexes nothing per layer beyond it without a KV cache, so no family
    needs the whole pass. Pass ``use_cache=False`` and request no hidden states or attentions: transformers installs
    its output-capturing hooks once, on the modules present then."""
    import copy

    from torch import nn

    dec = decoder(model)
    name = get_adapter(model).layers_path.rpartition(".")[2]
    layers = getattr(dec, name)
    if not 1 <= n <= len(layers):
        raise ValueError(f"run_layers: n={n} not in 1..{len(layers)} (the model's decoder layers)")
    prefix = copy.copy(dec)  # the same attributes; its own table of submodules, below
    prefix._modules = {**dec._modules, name: nn.ModuleList(list(layers)[:n])}
    return prefix.forward(*args, **kwargs).last_hidden_state


class LayerInputs:
    """What each decoder layer receives besides its hidden states (attention mask, rotary position embeddings,
    position ids, Falcon's ALiBi, ...), recorded from one real forward pass of the model: they depend on the
    batch's shape, not on its content, so ``run_from`` can replay them for any hidden states of that shape.
    Recording is an explicit pass: ``with LayerInputs.record(model) as inputs: model(ids)``."""

    def __init__(self, calls: dict[int, tuple[tuple, dict]], shape: tuple[int, int]):
        self.calls, self.shape = calls, shape  # layer -> (positional args after the hidden states, keyword args)

    @classmethod
    @contextlib.contextmanager
    def record(cls, model: nn.Module, layers=None):
        """Record the inputs of ``layers`` (default: all) during the forward passes inside the block (the last
        pass's are kept)."""
        blocks = get_adapter(model).layers(model)
        inputs = cls({}, (0, 0))

        def hook(i):
            def fn(mod, args, kwargs):
                h = args[0] if args else kwargs["hidden_states"]
                rest = {k: v for k, v in kwargs.items() if k != "hidden_states"}
                if any(hasattr(v, "get_seq_length") for v in (*args, *rest.values())):  # a KV cache would grow
                    raise ValueError("LayerInputs.record: run the model with use_cache=False (a KV cache holds the "
                                     "recorded pass's keys, which run_from would attend to)")
                inputs.calls[i] = (tuple(args[1:]), rest)
                inputs.shape = (h.shape[0], h.shape[1])
            return fn
        wanted = range(len(blocks)) if layers is None else layers
        handles = [blocks[i].register_forward_pre_hook(hook(i), with_kwargs=True) for i in wanted]
        try:
            yield inputs
        finally:
            for h in handles:
                h.remove()


def run_from(model: nn.Module, hidden: torch.Tensor, start: int, inputs: LayerInputs) -> torch.Tensor:
    """Run decoder layers ``start``..n on ``hidden`` (the output of layer ``start - 1``, or the embeddings for
    ``start`` 0), then the final norm (and OPT's output projection): the hidden states the LM head reads, equal
    to a whole forward pass's for the same input. ``inputs``: the layers' other inputs, recorded for a batch of
    this shape (``LayerInputs.record``)."""
    a = get_adapter(model)
    blocks = a.layers(model)
    if tuple(hidden.shape[:2]) != tuple(inputs.shape):
        raise ValueError(f"run_from: hidden states of shape {tuple(hidden.shape[:2])} (batch, tokens), layer inputs "
                         f"recorded for {tuple(inputs.shape)}: record them on a batch of the same shape")
    missing = [i for i in range(start, len(blocks)) if i not in inputs.calls]
    if missing:
        raise ValueError(f"run_from: layer inputs of layers {missing} were not recorded")
    for i in range(start, len(blocks)):
        args, kwargs = inputs.calls[i]
        hidden = layer_output(blocks[i](hidden, *args, **kwargs))
    for mod in a.final_modules(model):
        hidden = mod(hidden)
    return hidden
