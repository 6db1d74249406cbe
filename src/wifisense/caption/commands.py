"""``wifisense caption train|eval|predict|ablate``: the WiFi2Cap pipeline on the command line.

Options live here (``ablate``'s in ``wifisense.caption.ablate``, a light module); the work
is done by ``wifisense.caption.train``, ``.evaluate``, ``.predict`` and ``.ablate``, imported inside the command functions so ``wifisense --help`` never loads
torch or transformers.
"""

from __future__ import annotations

import argparse

from wifisense.options import add_device_option, add_logger_option, add_old_spelling

STAGE_HELP = ("comma-separated stages: s1 (video-text teacher), s2-1 (CSI<->video), s2-2 (CSI<->text), "
              "s3 (prefix LM), or 'all' (= s1,s2-1,s2-2,s3). The paper's ablations: s2-2,s3 / s1,s2-1,s3 / all")


def register(sub) -> None:
    from wifisense.io.readers.registry import capture_format_choices

    p = sub.add_parser(
        "caption", help="WiFi2Cap: train, evaluate and run CSI-to-caption models",
        description="Natural-language action captions from the CSI of one transmitter and three "
        "receivers (WiFi2Cap): a video-text teacher, a CSI student aligned to it, and a frozen "
        "language model conditioned by per-layer prefixes.")
    actions = p.add_subparsers(dest="caption_command", metavar="ACTION", required=True)

    t = actions.add_parser(
        "train", help="train the caption stages into a run directory",
        description="Train WiFi2Cap stage by stage into RUN/<stage>/ (resumable; a finished stage "
        "is skipped, an interrupted one continues). RUN/config.json holds the resolved config, "
        "RUN/preprocess.json the normalisation fitted on the training split, RUN/lm the offline "
        "language model when --lm offline. Several GPUs: torchrun --nproc_per_node N -- "
        "$(which wifisense) caption train ... (the -- keeps torchrun from reading --run).")
    add_train_arguments(t)
    t.set_defaults(func=run_train)

    e = actions.add_parser(
        "eval", help="caption metrics, direction accuracy, similarity matrix and retrieval on a split",
        description="Generate captions for every clip of a split and write BLEU-4, METEOR, ROUGE-L, "
        "CIDEr (SPICE when its jar is installed), left/right direction accuracy, the CSI x text "
        "similarity matrix (PNG, top-1 matching accuracy), retrieval R@1/R@5 and examples into "
        "RUN/metrics.json and RUN/figures/.")
    e.add_argument("--run", required=True, metavar="DIR", help="a run directory written by `caption train`")
    e.add_argument("--split", default="test", help="split of the run's store to evaluate (default: %(default)s)")
    e.add_argument("--data", metavar="STORE", help="evaluate on this store instead of the one the run trained on")
    e.add_argument("--beams", type=int, default=1, help="beam width; 1 = greedy (default: %(default)s)")
    e.add_argument("--max-tokens", type=int, default=None, help="longest caption in tokens (default: the config's)")
    e.add_argument("--batch-size", type=int, default=32, help="clips per forward pass (default: %(default)s)")
    e.add_argument("--examples", type=int, default=10, help="qualitative examples to keep (default: %(default)s)")
    add_device_option(e)
    e.set_defaults(func=run_eval)

    r = actions.add_parser(
        "predict", help="caption new captures (one per receiver) or clips of a store",
        description="Caption one clip from raw captures, one file per receiver in the trained "
        "receiver order ('-' for a missing receiver), or clips of a store by index. Raw captures "
        "are aligned on their first packets, resampled to the trained rate and length and "
        "preprocessed exactly as in training; an Intel 3x3 capture feeds a model trained on "
        "A = 3 antenna pairs with its first transmit antenna.")
    r.add_argument("--run", required=True, metavar="DIR", help="a run directory written by `caption train`")
    source = r.add_mutually_exclusive_group(required=True)
    source.add_argument("--rx", nargs="+", metavar="FILE", help="one capture per receiver ('-' = missing)")
    source.add_argument("--data", metavar="STORE", help="a caption store; use with --index")
    r.add_argument("--index", type=int, nargs="+", default=[0], help="store clip indices (default: 0)")
    r.add_argument("--format", default="auto", choices=capture_format_choices(),
                   help="capture format (default: %(default)s: detected from the content)")
    r.add_argument("--chip", help="Nexmon chip hint (e.g. 4358)")
    r.add_argument("--bw", type=float, help="Nexmon bandwidth hint in MHz")
    rate = r.add_argument("--packet-rate", type=float, dest="rate_hz", metavar="HZ",
                          help="packet rate for captures without a usable clock (as in `ingest`)")
    add_old_spelling(r, rate, "--rate")
    r.add_argument("--strict", action="store_true",
                   help="a capture record that cannot be read is an error (default: skipped, counted)")
    r.add_argument("--start", type=float, default=0.0,
                   help="seconds after the aligned start where the clip begins (default: %(default)s)")
    r.add_argument("--beams", type=int, default=1, help="beam width; 1 = greedy (default: %(default)s)")
    add_device_option(r)
    r.set_defaults(func=run_predict)

    from wifisense.caption.ablate import add_arguments as add_ablate_arguments

    a = actions.add_parser(
        "ablate", help="the paper's ablations: train, evaluate and tabulate every design's runs",
        description="Train and evaluate the runs of the chosen ablation designs, once per seed, into "
        "OUT/runs/<run>/seed<k>/ (identical configurations once; runs with equal earlier stages share them; "
        "an evaluated run is skipped, so an interrupted ablation resumes) and write OUT/results.csv and "
        "results.json (per seed, and the mean over seeds with 95 percent intervals), OUT/ablation.md (one table per "
        "design, like the paper's, each with a 'no CSI' reference row), figures.json and examples.json. "
        "Designs: main (full vs "
        "CSI->LM baseline vs mirror modes), core (full vs CSI->LM baseline), stages (S2-2+S3 / S1+S2-1+S3 / all), mirror "
        "(none / teacher / full), lm (offline + --lm), text (MiniLM + --text-encoder).")
    add_ablate_arguments(a)
    a.set_defaults(func=run_ablate)


def add_train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--data", required=True, metavar="FILE", help="caption store (.h5) with train (and val) splits")
    t.add_argument("--run", required=True, metavar="DIR", help="run directory to create or resume")
    t.add_argument("--preset", default="tiny", help="model preset (tiny, paper) or a JSON config (default: %(default)s)")
    t.add_argument("--stages", default="all", help=STAGE_HELP + " (default: %(default)s)")
    t.add_argument("--baseline", choices=["csi-lm", "no-csi"],
                   help="csi-lm: student + prefix MLP trained only with the LM loss (no teacher, no mirror); "
                   "no-csi: the reference that ignores the CSI (prefix MLP on one constant embedding: the "
                   "language prior)")
    t.add_argument("--mirror", choices=["none", "teacher", "full"],
                   help="mirror-consistency loss: off, teacher only (stage 1) or teacher and student (default: preset)")
    t.add_argument("--lm", metavar="NAME_OR_PATH",
                   help="causal LM: hub name, local directory, or 'offline' (a small GPT-2 trained on the "
                   "training captions into RUN/lm) (default: preset)")
    t.add_argument("--text-encoder", metavar="NAME_OR_PATH",
                   help="'minilm' (offline all-MiniLM-L6-v2), a sentence-encoder name/dir, or a CLIP "
                   "checkpoint (its text tower) (default: preset)")
    t.add_argument("--frame-encoder", metavar="NAME_OR_PATH",
                   help="'cnn' (small CNN trained in stage 1) or a CLIP checkpoint (frozen vision tower) "
                   "(default: preset)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="model config override, dotted key and a JSON value, e.g. student.resnet_width=8 "
                   "(repeatable)")
    from wifisense.caption.settings import EPOCHS_HELP

    t.add_argument("--epochs", type=int, default=None, help=EPOCHS_HELP)
    t.add_argument("--stage-epochs", default="", metavar="S=N,...",
                   help="per-stage epochs, e.g. s1=20,s3=5 (overrides --epochs for those stages)")
    t.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps per stage")
    t.add_argument("--batch-size", type=int, default=32, help="clips per batch (default: %(default)s)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate of every stage (default: per stage)")
    t.add_argument("--patience", type=int, default=None, help="early-stopping patience in validations (default: none for stages with given "
                   "epochs; 10, a quarter of the step cap, for the others)")
    t.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default: %(default)s)")
    add_device_option(t)
    t.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    t.add_argument("--restart", action="store_true",
                   help="retrain the selected stages from scratch instead of skipping finished ones")
    add_logger_option(t)


def run_train(args: argparse.Namespace) -> int:
    from wifisense.caption.train import train_from_args
    return train_from_args(args)


def run_eval(args: argparse.Namespace) -> int:
    from wifisense.caption.evaluate import evaluate_from_args
    return evaluate_from_args(args)


def run_predict(args: argparse.Namespace) -> int:
    from wifisense.caption.predict import predict_from_args
    return predict_from_args(args)


def run_ablate(args: argparse.Namespace) -> int:
    from wifisense.caption.ablate import run
    return run(args)
