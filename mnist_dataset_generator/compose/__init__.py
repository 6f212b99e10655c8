"""Composition: what a strip looks like, drawn and rendered.

``layout`` (gaps, slots, padding, resampling weights, boxes: arithmetic only), ``programs``
and ``render`` (THE renderer: column programs run on a sheet of ink columns, a single strip
being a batch of one), ``sheet`` (strips of digits of any widths laid on one sheet: filters,
overlaps), ``stacks`` (digits as one array, and the filters that change their pixels),
``warp`` (the geometric filters, one interpolation for all), ``augment`` (a list of filters
run over stacks, each sample with its own stream), ``strip`` (the checks of one strip) and
``filterspec`` (filters from ``-f`` text).
"""
