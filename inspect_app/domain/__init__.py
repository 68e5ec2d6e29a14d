"""The rules of the product, on a Session, with no HTTP: one module per concept.

Who owns the transaction: a domain function that is one user action (save a site, submit an
inspection, accept a hazard) commits once, at its end, and when it refuses it rolls back what it
did (`transactions.user_action` does that for it), so one action is one commit and a refusal
leaves nothing behind. The helpers it calls flush (to get ids) and never commit or roll back.
Routes, pages and the command line never commit or roll back: they call actions. A batch job
(the demo loader) is a sequence of such actions, each whole on its own and safe to run again.
"""
