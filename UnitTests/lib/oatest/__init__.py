"""oatest: the one Python library of the test suite and the benchmarks.

Scripts put UnitTests/lib first on sys.path and import what they need:

    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "lib"))
    from oatest import corpus, tool

Modules (standard library only unless said):
  corpus      where the 600-file corpus is ($OA_CORPUS, else
              ../shared/corpus beside the clone), skip when it is absent;
              the reference tables of Resources/Reference/
  tool        running oa-anonymize (timeout, sanitizer watch), its --tsv,
              --explain, the OA_DEFECT_* names, programs a test needs
  part10      the framing of a Part 10 file as the reader decides it
  dicombytes  DICOM byte streams built by hand (malformed ones too): the
              Python twin of UnitTests/support/dicom_bytes.c
  dicomgen    synthetic DICOM files built with pydicom (pydicom)
  deid        what must not leave: walking datasets with raw values,
              identifying values, leaks, private tags, the UID contract
              (pydicom)
  harness     a real Orthanc with the plugin, the REST helpers, Checks
              (the named checks and summary line of every script)
  browser     the headless Chromium runs of the browser tests
  servers     real export servers (vsftpd, sshd, apache2 WebDAV, storescp)
  pg          a disposable local PostgreSQL 15

Messages never print DICOM values (this is an anonymizer's test suite).
"""
import os

LIB = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(LIB, "..", "..", ".."))

# Exit status of a script whose prerequisite is missing: ctest reports it
# as skipped (SKIP_RETURN_CODE), never as passed.
SKIP = 77
