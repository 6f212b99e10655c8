"""Composition: what a strip looks like, drawn and rendered.

``layout`` (gaps, slots, padding, resampling weights, boxes: arithmetic only), ``render``
(THE renderer: column programs run on a sheet of ink columns, a single strip being a batch
of one), ``strip`` (the checks of one strip and its composition digit by digit when filters
or overlaps need it), ``stacks`` (built-in filters over a stack of digits at once) and
``filterspec`` (filters from ``-f`` text).
"""
