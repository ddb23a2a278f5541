"""Looking ahead and back: trends with their forecast (:mod:`.trends`, :mod:`.forecast`)
and the reports of the operations guide's rhythm (:mod:`.report`), from the store."""
