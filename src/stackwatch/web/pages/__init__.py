"""The dashboard's pages: each a :class:`~stackwatch.web.pages.page.PageSpec` (path,
template, the view it renders), with a JSON twin at the same path plus ``.json``."""
