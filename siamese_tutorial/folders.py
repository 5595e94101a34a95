"""Folders of pictures: a folder of classes (one sub-folder a class, or of groups), and picture paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .pictures import CONVERT, IMAGE_SUFFIXES, _picture_kind

__all__ = ["class_folders", "picture_files"]


def _visible(parent: Path) -> list[Path]:
    """The entries of a folder that are not hidden (``.ipynb_checkpoints``, ``.git``, ``.DS_Store``), sorted."""
    return sorted(p for p in parent.iterdir() if not p.name.startswith("."))


def _pictures_in(folder: Path, top: Path, nested: bool = True) -> list[Path]:
    """The picture files directly in ``folder`` (sorted), refusing a broken link or a file that is not a picture,
    and unless ``nested``, a folder inside it (its pictures would be left out without a word)."""
    entries = _visible(folder)
    inside = [
        p for p in entries if p.is_dir() and not p.is_symlink()
    ]  # a link to a folder (up?) is left alone
    if inside and not nested:
        raise ValueError(
            f"{inside[0]} is a folder inside the class folder {folder}: its pictures would be left out; "
            f"move them into {folder} (for the layout <group>/<class>/<picture>, give --groups to "
            f"train, or the group's folder to enrol --folder)."
        )
    broken = [p for p in entries if p.is_symlink() and not p.exists()]
    if broken:
        raise ValueError(
            f"{broken[0]} is a link to a file that does not exist; remove the link or restore the file."
        )
    files = [p for p in entries if p.is_file()]
    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            kind, suffixes = _picture_kind(path), ", ".join(IMAGE_SUFFIXES)
            if kind is not None:
                raise ValueError(
                    f"{path} is {kind}, which is not read here (the suffixes read are {suffixes}); "
                    f"{CONVERT} in its place, or move it out of {top}."
                )
            raise ValueError(
                f"{path} is not an image (the suffixes read are {suffixes}); move it out of {top}."
            )
    return files


def class_folders(
    folder: str | Path, groups: bool = False
) -> list[tuple[str, list[Path]]]:
    """The classes of a folder in torchvision's ``ImageFolder`` layout, with their picture files.

    ``folder/<class>/<picture>``, or with ``groups`` ``folder/<group>/<class>/<picture>``; hidden folders
    and files (their names start with ``.``) are left out, and so are files beside the class folders
    that are not pictures (a README).

    Returns
    -------
    list of (str, list of Path)
        ``(name, pictures)`` per class, sorted by name (``"<group>/<class>"`` with groups), its pictures
        sorted by file name; a class may have none.

    Raises
    ------
    ValueError
        Naming what is wrong: ``folder`` is not a folder or has no class folders; a file that is not a
        picture (its kind and what to do, e.g. a HEIC photo: convert it); a link to nothing; a folder
        inside a class folder, or a picture beside the class folders (it would be left out).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(
            f"{folder} is not a folder; give the folder that holds one sub-folder per class."
        )

    def folders(parent: Path) -> list[Path]:
        """The folders in ``parent``; a picture beside them belongs to no class: said, not left out."""
        entries = _visible(parent)
        loose = [
            p
            for p in entries
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        inside = [p for p in entries if p.is_dir()]
        if loose and not inside:
            raise ValueError(
                f"{parent} holds pictures, not class folders; the layout is {folder}/{layout}."
            )
        if loose:
            raise ValueError(
                f"{loose[0]} is a picture outside any class folder: it would be left out; move it into "
                f"the folder of its class (the layout is {folder}/{layout})."
            )
        return inside

    layout = "<group>/<class>/<image>" if groups else "<class>/<image>"
    class_dirs = (
        [c for g in folders(folder) for c in folders(g)]
        if groups
        else folders(folder)
    )
    if not class_dirs:
        raise ValueError(
            f"{folder} has no class folders; the layout is {folder}/{layout}."
        )
    return [
        (
            class_dir.relative_to(folder).as_posix(),
            _pictures_in(class_dir, folder, nested=False),
        )
        for class_dir in class_dirs
    ]


def picture_files(paths: Sequence[str | Path]) -> list[Path]:
    """Picture files, and the pictures in folders: each file as given, each folder's pictures (in its
    sub-folders too, hidden ones left out) sorted by their path, in the order given.

    Raises ``ValueError`` for a path that does not exist, a folder without pictures, or a file in a
    folder that is not a picture (see :func:`class_folders`).
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            pending, pictures, seen = [path], [], set()
            while pending:
                folder = pending.pop()
                if (
                    folder.resolve() in seen
                ):  # a link back to a folder above: once is enough
                    continue
                seen.add(folder.resolve())
                pictures += _pictures_in(folder, path)
                pending += [p for p in _visible(folder) if p.is_dir()]
            if not pictures:
                raise ValueError(
                    f"{path} holds no pictures; give a folder of pictures (in its sub-folders too)."
                )
            found += sorted(pictures, key=lambda p: p.relative_to(path).parts)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(
                f"{path} is not a file or a folder; give the path of a picture or of a folder of them."
            )
    return found
