"""``python -m cosmos3_gym`` (and ``torchrun ... -m cosmos3_gym train``) runs the ``cosmos3-gym`` command line."""

from cosmos3_gym.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
