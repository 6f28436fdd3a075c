"""Make the anime evaluation set and the region chooser's fitting set from a built anime corpus.

    python scripts/eval_sets.py /work/data/anime /work/data/anime-eval /work/data/anime-heldtune

Both are folders of links (val/ plus a one-image train/, the layout `swishpaint evaluate` and
`swishpaint fit-regions` read), and both hold only characters the network never trained on:
- evaluation: 14 frames of each held-out Live2D character (every n/14-th file in name order) and 16
  held-out Pokémon (every n/16-th);
- fitting: every other held-out image that is not a Live2D character (the other held-out Pokémon
  and the outlined-cartoon sets), so no character is both fitted on and scored;
- with --probe DIR, a third set built like the evaluation set from characters the network trained
  on (4 frames of each human Live2D training character, 16 training Pokémon): the same command
  scores both, and the difference is what generalising to unseen characters costs;
- with --choose-pokemon DIR, 40 of the fitting set's Pokémon: an unscored set for choosing between
  models that is closer to the scored one than the fitting set's first images (clip art, avatars).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LIVE2D_FRAMES = 14
POKEMON = 16
# the probe's Live2D training characters: the human ones, as the scored ones are (not the cats
# hijiki and tororo, the dog wanko, or haru's second outfit)
PROBE_CHARACTERS = ("epsilon2_1", "haru-haru01", "hibiki", "miku", "nico", "tsumiki", "unitychan")
PROBE_FRAMES = 4
CHOOSE_POKEMON = 40


def every_nth(items: list, count: int) -> list:
    """`count` of `items` spread evenly over them (files or names, in the caller's order)."""
    return items[::max(1, len(items) // count)][:count]


def link_set(folder: Path, images: dict[str, Path]) -> None:
    for split in ("val", "train"):
        (folder / split).mkdir(parents=True, exist_ok=True)
    for name, source in images.items():
        if not (folder / "val" / name).exists():
            (folder / "val" / name).symlink_to(source.resolve())
    first = folder / "train" / next(iter(images))
    if not first.exists():  # the readers want a train split; it is not used
        first.symlink_to(next(iter(images.values())).resolve())


def character_mix(split: Path, characters: list[str], frames: int) -> dict[str, Path]:
    """The evaluation set's mix from one split: `frames` frames of each Live2D character (every n-th
    file in name order) and POKEMON Pokémon, named as the sets link them."""
    chosen: dict[str, Path] = {}
    for character in characters:
        for f in every_nth(sorted((split / "live2d" / character).glob("*.png")), frames):
            chosen[f"live2d-{character}-{f.name}"] = f
    for f in every_nth(sorted((split / "pokemon").glob("*.png")), POKEMON):
        chosen[f"pokemon-{f.name}"] = f
    return chosen


def main(corpus: str, eval_dir: str, fit_dir: str, probe_dir: str | None = None,
         choose_dir: str | None = None) -> int:
    val = Path(corpus) / "val"
    chosen = character_mix(val, sorted(p.name for p in (val / "live2d").iterdir()), LIVE2D_FRAMES)
    scored_pokemon = {name.split("-")[1].split(".")[0] for name in chosen if name.startswith("pokemon-")}
    rest = {}
    for f in sorted(val.rglob("*.png")):
        parts = f.relative_to(val).parts
        name = "-".join(parts)
        if parts[0].startswith("live2d") or name in chosen:
            continue
        if parts[0] == "pokemon" and f.name.split("-")[0].split(".")[0] in scored_pokemon:
            continue  # the same Pokémon's other view: the character is scored
        rest[name] = f
    link_set(Path(eval_dir), chosen)
    link_set(Path(fit_dir), rest)
    print(f"{eval_dir}: {len(chosen)} images; {fit_dir}: {len(rest)} images")
    if choose_dir:
        pokemon = every_nth(sorted(name for name in rest if name.startswith("pokemon-")), CHOOSE_POKEMON)
        if not pokemon:
            print(f"{corpus}: no held-out Pokémon outside the scored set for --choose-pokemon", file=sys.stderr)
            return 1
        link_set(Path(choose_dir), {name: rest[name] for name in pokemon})
        print(f"{choose_dir}: {len(pokemon)} images")
    if probe_dir:
        probe = character_mix(Path(corpus) / "train", list(PROBE_CHARACTERS), PROBE_FRAMES)
        if not probe:
            print(f"{corpus}: no training Live2D character or Pokémon for --probe", file=sys.stderr)
            return 1
        link_set(Path(probe_dir), probe)
        print(f"{probe_dir}: {len(probe)} training images")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", help="a built anime corpus (swishpaint data build-anime --out CORPUS)")
    p.add_argument("eval_dir", help="the evaluation set is linked here")
    p.add_argument("fit_dir", help="the region chooser's fitting set is linked here")
    p.add_argument("--probe", metavar="DIR", help="also link the training-character probe set here")
    p.add_argument("--choose-pokemon", metavar="DIR", help="also link 40 of the fitting set's Pokémon here")
    args = p.parse_args()
    raise SystemExit(main(args.corpus, args.eval_dir, args.fit_dir, args.probe, args.choose_pokemon))
