"""``carbonlink assess``: from a proposed link (an agreement document) to a decision report.

calibrate → markets from reference data plus labelled assumptions;
designs → the link designs compared side by side;
sensitivity → sweeps of the main restriction and of the MAC assumption;
pipeline → runs all of it and returns an :class:`~carbonlink.assess.pipeline.Assessment`.
"""
