"""Entry point of one part of a parallel rebuild (:func:`projections.fast.part_main`)."""

from projections.fast import part_main

if __name__ == "__main__":
    part_main()
