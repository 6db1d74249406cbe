"""Benchmark: WiFi2Cap training samples/s per stage and inference latency per clip, on one CPU core.

For each preset (``tiny``; ``paper`` with ``--paper``) a small simulated actions store with
the default clip geometry (5 s at 100 Hz, 3 receivers x 3 antenna pairs x 30 subcarriers,
8 frames) is written, every stage is trained for one step through ``train_caption`` (so
each stage has the weights the next one loads), and then, per stage, the stage's own
model and loader (``CaptionPipeline.build_stage``) are timed: one warm-up pass over the
training loader (it fills the frozen-feature caches, as the first epoch of real training
does), then ``--steps`` optimizer steps (forward, backward, gradient clipping, AdamW),
data loading and preprocessing included. Inference: the run loaded with
``load_caption_run``, one store clip at a time (batch 1): preprocessing of the complex CSI,
the CSI embedding, and a greedy caption forced to the length (in the LM's tokens, end token
included) of the longest caption in the store: what a trained LM writes at most, and the same
work whatever the random or barely trained weights happen to generate (a random GPT-2 may end
after one token, a barely trained one may never end). The time per generated token is kept
too, so other lengths can be worked out. Wall and CPU (this thread) time are
both kept, because on a shared machine wall time depends on the other load.

The ``paper`` preset runs with random weights, for timing only: a CLIP ViT-B/32
(``CLIPConfig()`` defaults) and a GPT-2 124M (``GPT2Config()`` defaults) are built from
their configs and saved to a temporary directory (nothing is downloaded), with a BPE
tokenizer trained on the captions.

    python benchmarks/caption.py [--paper] [--steps 10] [--repeats 10] [--out FILE]
"""

from __future__ import annotations

import os

# One core: thread pools must be capped before NumPy / torch load their BLAS / OpenMP.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_name] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wifisense.machine import cpu_model

TARGET_LATENCY_MS = {"tiny": 50.0, "paper": 1000.0}
STAGES = ("s1", "s2-1", "s2-2", "s3")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "caption.json"
# Classes simulated for the benchmark store (mirror partners are added by the simulator).
CLASSES = ("standing:left_arm", "standing:head", "sitting:right_leg")


def machine_info(torch) -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    import transformers
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "load_average_1_5_15": list(load) if load else None,
            "platform": platform.platform(), "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads()}


def write_store(path: Path, clips_per_class: int, seed: int) -> dict:
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    cfg = dataclasses.replace(ActionConfig(), clips_per_class=clips_per_class, classes=CLASSES,
                              split_ratios=(0.8, 0.0, 0.2))
    dataset = simulate_actions(cfg, seed=seed, progress=False)
    write_caption_store(path, dataset, overwrite=True)
    return {"clips": int(dataset.csi.shape[0]), "clip_shape_R_T_A_S": list(dataset.csi.shape[1:]),
            "frames": list(dataset.frames.shape[1:]) if dataset.frames is not None else None}


def random_paper_models(root: Path, captions: list[str]) -> dict[str, str]:
    """CLIP ViT-B/32 and GPT-2 124M with random weights, saved like hub checkpoints (timing only)."""
    import torch
    from transformers import CLIPConfig, CLIPModel, GPT2Config, GPT2LMHeadModel

    from wifisense.caption.offline_lm import train_caption_tokenizer

    torch.manual_seed(0)
    tokenizer = train_caption_tokenizer(captions, vocab_size=1000)
    clip_dir, gpt2_dir = root / "clip-vit-b32-random", root / "gpt2-124m-random"
    CLIPModel(CLIPConfig()).save_pretrained(clip_dir)           # defaults: ViT-B/32 + 512-wide text tower
    tokenizer.save_pretrained(clip_dir)
    lm = GPT2LMHeadModel(GPT2Config(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                    pad_token_id=tokenizer.pad_token_id))   # defaults: 12 x 768, 124M
    lm.save_pretrained(gpt2_dir)
    tokenizer.save_pretrained(gpt2_dir)
    return {"teacher.clip_model": str(clip_dir), "prefix_lm.lm": str(gpt2_dir)}


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def time_stage(pipeline, stage: str, steps: int, batch_size: int) -> dict:
    """Warm-up pass over the loader, then ``steps`` timed optimizer steps (loading included)."""
    import torch

    from wifisense.caption.train import GRAD_CLIP, make_optimizer_factory
    from wifisense.training import move_to_device, seed_everything

    seed_everything(0)
    started = time.perf_counter()
    model, loader, _ = pipeline.build_stage(stage)
    build_s = time.perf_counter() - started
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer_factory(pipeline.settings.stage_lr(stage))(params)

    def step(batch) -> None:
        loss, _ = model(move_to_device(batch, pipeline.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()

    model.train()
    warm = time.perf_counter()
    for batch in loader:           # first epoch: frozen features computed and cached
        step(batch)
    warmup_s = time.perf_counter() - warm
    times, cpu, samples = [], [], 0
    while len(times) < steps:
        for batch in loader:
            t0, c0 = time.perf_counter(), time.thread_time()
            step(batch)
            cpu.append(time.thread_time() - c0)
            times.append(time.perf_counter() - t0)
            samples += len(batch["index"])
            if len(times) == steps:
                break
    batch_used = samples / len(times)
    return {"batch_size": batch_used, "steps": len(times), "median_step_s": statistics.median(times),
            "samples_per_s": batch_used / statistics.median(times),
            "samples_per_cpu_s": batch_used / statistics.median(cpu), "warmup_epoch_s": round(warmup_s, 3),
            "build_s": round(build_s, 3), "trainable_parameters": count_parameters(
                torch.nn.ModuleList([m for n, m in model.named_children() if n != "loss"]))}


def time_inference(run_dir: Path, store: Path, repeats: int) -> dict:
    """Median per-clip latency at batch 1: preprocessing, CSI embedding, greedy caption."""
    import torch

    from wifisense.caption.data import caption_dataset, prepare_inputs
    from wifisense.caption.run import load_caption_run
    from wifisense.io.datasets import collate_clips

    from wifisense.caption.prefix_lm import encode_captions
    from wifisense.caption.train import training_captions

    run = load_caption_run(run_dir, "cpu", with_teacher=False)
    limit = run.config.prefix_lm.max_caption_tokens
    _, mask = encode_captions(run.prefix_lm.tokenizer, training_captions(store), limit)
    caption_tokens = int(mask.sum(dim=1).max()) - 1          # the start token is given, not generated
    end_id = run.prefix_lm.end_id
    run.prefix_lm.end_id = -1       # no token id is -1: every caption runs to caption_tokens
    dataset = caption_dataset(store, "test", csi=True)
    clips = [collate_clips([dataset[i % len(dataset)]]) for i in range(repeats + 1)]
    parts: dict[str, list[float]] = {"preprocess_ms": [], "embed_ms": [], "caption_ms": [], "total_ms": []}
    tokens, cpu = [], []
    with torch.inference_mode():
        for n, clip in enumerate(clips):
            c0, t0 = time.thread_time(), time.perf_counter()
            amplitude, phase, valid = prepare_inputs(clip["csi"], clip["rx_valid"], run.spec)
            t1 = time.perf_counter()
            embedding = run.embed(amplitude, phase, valid)
            t2 = time.perf_counter()
            # run.caption's greedy path, with the ids kept to count the generated tokens
            ids = run.prefix_lm.generate_ids(embedding, caption_tokens)
            run.prefix_lm.decode(ids)
            t3, c3 = time.perf_counter(), time.thread_time()
            if n == 0:
                continue            # warm-up (first-call allocations)
            cpu.append(1000 * (c3 - c0))
            tokens.append(int(ids.shape[1]))
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                parts[key].append(1000 * value)
    run.prefix_lm.end_id = end_id
    result = {key: round(statistics.median(values), 3) for key, values in parts.items()}
    result["total_cpu_ms"] = round(statistics.median(cpu), 3)
    result["ms_per_token"] = round(result["caption_ms"] / caption_tokens, 3)
    result.update(repeats=repeats, median_caption_tokens=statistics.median(tokens),
                  max_caption_tokens=limit,
                  student_parameters=count_parameters(run.student),
                  lm_parameters=count_parameters(run.prefix_lm.lm) if hasattr(run.prefix_lm, "lm") else None)
    return result


def bench_preset(preset: str, store: Path, root: Path, steps: int, batch_size: int, repeats: int,
                 overrides: dict) -> dict:
    from wifisense.caption.settings import CaptionTrainSettings
    from wifisense.caption.train import CaptionPipeline, train_caption, training_captions

    if preset == "paper":
        overrides = {**random_paper_models(root / "models", training_captions(store)), **overrides}
    settings = CaptionTrainSettings(data=str(store), run=str(root / f"run-{preset}"), preset=preset,
                                    overrides=overrides, epochs={s: 1 for s in STAGES}, max_steps=1,
                                    batch_size=batch_size, device="cpu", quiet=True)
    started = time.perf_counter()
    train_caption(settings)        # one step per stage: every stage then has the weights the next one loads
    setup_s = time.perf_counter() - started
    pipeline = CaptionPipeline(settings)
    stages = {}
    for stage in STAGES:
        stages[stage] = time_stage(pipeline, stage, steps, batch_size)
        print(f"  {preset} {stage}: {stages[stage]['samples_per_s']:.2f} samples/s", file=sys.stderr, flush=True)
    inference = time_inference(Path(settings.run), store, repeats)
    inference["target_ms"] = TARGET_LATENCY_MS[preset]
    inference["meets_target"] = inference["total_ms"] <= TARGET_LATENCY_MS[preset]
    inference["meets_target_cpu_time"] = inference["total_cpu_ms"] <= TARGET_LATENCY_MS[preset]
    return {"preset": preset, "overrides": {k: v for k, v in overrides.items() if not str(v).startswith(str(root))},
            "random_weights": preset == "paper", "setup_s": round(setup_s, 1), "train": stages,
            "inference": inference}


def print_table(results: list[dict]) -> None:
    print(f"{'preset':<7} {'stage':<6} {'batch':>5} {'samples/s':>10} {'/cpu-s':>8} {'step s':>8} {'trainable':>11}")
    for result in results:
        for stage, row in result["train"].items():
            print(f"{result['preset']:<7} {stage:<6} {row['batch_size']:>5.0f} {row['samples_per_s']:>10.2f} "
                  f"{row['samples_per_cpu_s']:>8.2f} {row['median_step_s']:>8.3f} {row['trainable_parameters']:>11,}")
    print()
    print(f"{'preset':<7} {'preprocess':>10} {'embed':>8} {'caption':>8} {'total ms':>9} {'cpu ms':>8} {'tokens':>6} "
          f"{'ms/token':>8} {'target':>7}")
    for result in results:
        inf = result["inference"]
        verdict = "ok" if inf["meets_target"] else ("ok in CPU time" if inf["meets_target_cpu_time"] else "MISSED")
        print(f"{result['preset']:<7} {inf['preprocess_ms']:>10.2f} {inf['embed_ms']:>8.2f} {inf['caption_ms']:>8.2f} "
              f"{inf['total_ms']:>9.2f} {inf['total_cpu_ms']:>8.2f} {inf['median_caption_tokens']:>6.0f} {inf['ms_per_token']:>8.2f} "
              f"{inf['target_ms']:>5.0f}ms {verdict}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="also time the paper preset (random weights; minutes)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per stage")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (tiny preset)")
    parser.add_argument("--paper-batch-size", type=int, default=8, help="training batch (paper preset)")
    parser.add_argument("--paper-steps", type=int, default=3, help="timed optimizer steps per stage (paper preset)")
    parser.add_argument("--repeats", type=int, default=10, help="clips timed for inference")
    parser.add_argument("--clips-per-class", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    from wifisense.caption.pretrained import no_loading_bars
    from wifisense.training.checkpoint import write_json

    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="wifisense-caption-bench-") as tmp, no_loading_bars():
        root = Path(tmp)
        store_info = write_store(root / "actions.h5", args.clips_per_class, args.seed)
        print(f"store: {store_info}", file=sys.stderr)
        results.append(bench_preset("tiny", root / "actions.h5", root, args.steps, args.batch_size, args.repeats, {}))
        if args.paper:
            results.append(bench_preset("paper", root / "actions.h5", root, args.paper_steps, args.paper_batch_size,
                                        args.repeats, {}))
    print_table(results)
    payload = {"benchmark": "caption", "one_core": True, "store": store_info, "results": results,
               "wall_s": round(time.perf_counter() - started, 1), "machine": machine_info(torch)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, payload)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
