"""Event studies of share-price reactions to US sanctions and blacklisting news."""
from analysis.errors import UserError

__all__ = ["EventStudy", "EventStudyResults", "StudySpec", "UserError"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: keep `import analysis` light
    if name == "EventStudy":
        from analysis.study import EventStudy

        return EventStudy
    if name == "StudySpec":
        from analysis.inference.spec import StudySpec

        return StudySpec
    if name == "EventStudyResults":
        from analysis.results import EventStudyResults

        return EventStudyResults
    raise AttributeError(name)
