/**
 * Orthanc Anonymizer: buttons for Orthanc Explorer.
 *
 * The plugin hands this file to OrthancPluginExtendOrthancExplorer, and
 * Orthanc serves it, after every other plugin's extension, as
 * ../plugins/explorer.js of Orthanc Explorer (jQuery 1.7, jQuery Mobile
 * 1.1; a page's resource id is $.mobile.pageData.uuid).
 *
 * On the patient page (#patient) and the study page (#study) it adds a
 * list "Anonymizer (PS3.15)" under Orthanc's own "Interact" list, with:
 *
 *   Anonymize                  POST ../anonymizer/{patients|studies}/{id}/
 *                              anonymize with {} (the default profile),
 *                              then opens Orthanc Explorer's job page
 *                              #job?uuid=<job id>; an error shows the
 *                              "Details" of the JSON answer on the page.
 *                              A study that is this plugin's own output
 *                              (or a patient holding one) is refused with
 *                              409: the message says which study it is a
 *                              copy of, with an "Anonymize again anyway"
 *                              link that sends {"Force": true}.
 *   Add to anonymization list  appends {"Level", "ID", "Label"} to the
 *                              JSON array in localStorage under
 *                              "orthanc-anonymizer.list" (once per
 *                              resource), read by the anonymizer's page
 *                              ../anonymizer/app/index.html.
 *
 * On a study's page, a line says when the study is an anonymized copy
 * (POST ../anonymizer/copies): of which study, with which profile and
 * when, or made by Orthanc's own anonymization.
 *
 * URLs are relative to explorer.html (Orthanc may sit behind a reverse
 * proxy at a sub-path), and nothing is loaded from elsewhere.  Requests go
 * through $.ajax, so the authorization headers that Orthanc Explorer sets
 * with $.ajaxSetup are sent too.  Everything is inside one function:
 * other plugins' extensions share the file, hence also the leading ";"
 * (the script before ours may end without one).
 */
;(function ($) {
  'use strict';

  var LIST_KEY = 'orthanc-anonymizer.list';
  var APP_URL = '../anonymizer/app/index.html';
  var LABEL_MAX = 80;

  // One entry per Orthanc Explorer page that gets the buttons.
  var PAGES = {
    patient: { level: 'Patient', route: 'patients', before: '#patient-access' },
    study: { level: 'Study', route: 'studies', before: '#study-access' }
  };

  function currentUuid() {
    return ($.mobile.pageData && $.mobile.pageData.uuid) ?
      String($.mobile.pageData.uuid) : '';
  }

  // -- Messages (text only: server answers never become HTML) ----------

  function statusBox(page) {
    return $('#oa-' + page + '-status');
  }

  function clearStatus(page) {
    statusBox(page).empty().hide();
  }

  // Show `parts` (strings, or jQuery elements such as a link) in the
  // page's message box; kind is "ok" or "error".
  function showStatus(page, kind, parts) {
    var box = statusBox(page).empty();
    var i;
    box.attr('data-oa-kind', kind)
      .css('color', kind === 'error' ? '#b00020' : '#1b5e20');
    for (i = 0; i < parts.length; i++) {
      if (typeof parts[i] === 'string') {
        box.append(document.createTextNode(parts[i]));
      } else {
        box.append(parts[i]);
      }
    }
    box.show();
  }

  // The reason of a failed request: "Details" (else "Error") of the JSON
  // error the plugin answers, else the HTTP status.
  function errorText(xhr, textStatus) {
    var err = null;
    try {
      err = JSON.parse(xhr.responseText);
    } catch (e) {
      err = null;
    }
    if (err && typeof err === 'object') {
      if (typeof err.Details === 'string' && err.Details !== '') {
        return err.Details;
      }
      if (typeof err.Error === 'string' && err.Error !== '') {
        return err.Error;
      }
      if (typeof err.Message === 'string' && err.Message !== '') {
        return err.Message;   // Orthanc's own error answers
      }
    }
    if (xhr.status) {
      return 'HTTP ' + xhr.status + (xhr.statusText ? ' ' + xhr.statusText : '');
    }
    return 'request failed (' + (textStatus || 'network error') + ')';
  }

  // -- Anonymize --------------------------------------------------------

  function studyLink(id) {
    return $('<a>').attr('href', '#study?uuid=' + encodeURIComponent(id))
      .text(id.substring(0, 8) + '\u2026');
  }

  // "Anonymize again anyway": the same request with "Force": true.
  function forceLink(page) {
    return $('<a>').attr('href', '#').attr('id', 'oa-' + page + '-force')
      .text('Anonymize again anyway');
  }

  function anonymize(page, force) {
    var cfg = PAGES[page];
    var uuid = currentUuid();
    var button = $('#oa-' + page + '-anonymize');
    if (uuid === '' || button.data('oa-busy')) {
      return;
    }
    button.data('oa-busy', true);
    showStatus(page, 'ok', ['Starting the anonymization\u2026']);
    $.ajax({
      url: '../anonymizer/' + cfg.route + '/' + encodeURIComponent(uuid) +
        '/anonymize',
      type: 'POST',
      data: force ? '{"Force": true}' : '{}',
      contentType: 'application/json',
      dataType: 'json',
      cache: false,
      success: function (job) {
        button.data('oa-busy', false);
        if (job && typeof job.ID === 'string' && job.ID !== '') {
          window.location.assign('explorer.html#job?uuid=' +
                                 encodeURIComponent(job.ID));
        } else {
          showStatus(page, 'error',
                     ['Anonymization failed: the answer names no job']);
        }
      },
      error: function (xhr, textStatus) {
        button.data('oa-busy', false);
        if (xhr.status === 409) {
          showStatus(page, 'error',
                     ['Not anonymized: ' + errorText(xhr, textStatus) +
                      '. Anonymizing it again would make a pseudonym of a ' +
                      'pseudonym. ', forceLink(page)]);
          return;
        }
        showStatus(page, 'error',
                   ['Anonymization failed: ' + errorText(xhr, textStatus)]);
      }
    });
  }

  // -- Anonymized copies --------------------------------------------------

  function copyBox(page) {
    return $('#oa-' + page + '-copy');
  }

  // On a study's page: is it an anonymized copy, and of what?
  function showCopy(page) {
    var uuid = currentUuid();
    var box = copyBox(page).empty().hide();
    if (page !== 'study' || uuid === '') {
      return;
    }
    $.ajax({
      url: '../anonymizer/copies',
      type: 'POST',
      data: JSON.stringify({ Studies: [uuid] }),
      contentType: 'application/json',
      dataType: 'json',
      cache: false,
      success: function (answer) {
        var c = answer && answer[uuid];
        var date;
        if (!c || currentUuid() !== uuid) {
          return;
        }
        box.empty();
        if (c.By === 'Anonymizer') {
          date = String(c.Date || '');
          date = /^\d{8}/.test(date) ? date.substring(0, 4) + '-' +
            date.substring(4, 6) + '-' + date.substring(6, 8) : '';
          box.append(document.createTextNode(
            'An anonymized copy (profile ' + (c.Profile || '?') +
            (date ? ', ' + date : '') + ')'));
        } else {
          box.append(document.createTextNode(
            'An anonymized copy made by Orthanc'));
        }
        if (typeof c.Original === 'string' && c.Original !== '') {
          box.append(document.createTextNode(' of study '),
                     studyLink(c.Original));
        }
        box.append(document.createTextNode(
          c.By === 'Anonymizer' ? '. "Anonymize" asks before doing it again.'
            : '.'));
        box.show();
      }
    });
  }

  // -- The anonymization list -------------------------------------------

  // The stored list; a missing or unreadable value is an empty list.
  function readList() {
    var list;
    try {
      list = JSON.parse(window.localStorage.getItem(LIST_KEY) || '[]');
    } catch (e) {
      list = [];
    }
    return $.isArray(list) ? list : [];
  }

  function shorten(text) {
    text = $.trim(String(text || '').replace(/\s+/g, ' '));
    return text.length > LABEL_MAX ?
      text.substring(0, LABEL_MAX - 1) + '\u2026' : text;
  }

  // A person name as Orthanc shows it: "Doe^John" -> "Doe John".
  function personName(value) {
    return $.trim(String(value || '').replace(/\^+/g, ' '));
  }

  function joinNonEmpty(parts, separator) {
    return $.grep(parts, function (p) { return p !== ''; }).join(separator);
  }

  // The label that the anonymizer's page shows for the entry: what
  // Orthanc Explorer shows on this page (patient name and ID; study
  // description and date), from the resource's main tags.
  function makeLabel(cfg, resource, uuid) {
    var tags = (resource && resource.MainDicomTags) || {};
    var label;
    if (cfg.level === 'Patient') {
      label = joinNonEmpty([personName(tags.PatientName),
                            tags.PatientID ? '(' + tags.PatientID + ')' : ''],
                           ' ');
    } else {
      var patient = (resource && resource.PatientMainDicomTags) || {};
      label = joinNonEmpty([personName(patient.PatientName),
                            $.trim(tags.StudyDescription || ''),
                            $.trim(tags.StudyDate || '')], ' \u2013 ');
    }
    label = shorten(label);
    return label !== '' ? label : cfg.level + ' ' + uuid.substring(0, 8);
  }

  function appLink() {
    return $('<a>')
      .attr('href', APP_URL)
      .attr('data-ajax', 'false')   // a separate page, not a jQM page
      .attr('rel', 'external')
      .attr('id', 'oa-app-link')
      .text('Open the anonymization list');
  }

  function addToList(page, resource) {
    var cfg = PAGES[page];
    var uuid = currentUuid();
    var list, i, entry;
    if (uuid === '') {
      return;
    }
    list = readList();
    for (i = 0; i < list.length; i++) {
      if (list[i] && list[i].Level === cfg.level && list[i].ID === uuid) {
        showStatus(page, 'ok', ['Already in the anonymization list (' +
                                list.length + ' in all). ', appLink()]);
        return;
      }
    }
    entry = { Level: cfg.level, ID: uuid, Label: makeLabel(cfg, resource, uuid) };
    list.push(entry);
    try {
      window.localStorage.setItem(LIST_KEY, JSON.stringify(list));
    } catch (e) {
      showStatus(page, 'error', ['Cannot save the anonymization list in ' +
                                 'this browser: ' + (e && e.name ? e.name : e)]);
      return;
    }
    showStatus(page, 'ok', ['Added to the anonymization list (' +
                            list.length + ' in all). ', appLink()]);
  }

  // Fetch the resource's tags for the label; without them (an error) the
  // entry is still added, with a label made from its id.
  function addCurrentToList(page) {
    var cfg = PAGES[page];
    var uuid = currentUuid();
    if (uuid === '') {
      return;
    }
    $.ajax({
      url: '../' + cfg.route + '/' + encodeURIComponent(uuid),
      dataType: 'json',
      cache: false,
      success: function (resource) { addToList(page, resource); },
      error: function () { addToList(page, null); }
    });
  }

  // -- The buttons --------------------------------------------------------

  function createButtons(page) {
    var list = $('<ul>')
      .attr('id', 'oa-' + page + '-anonymizer')
      .attr('data-role', 'listview')
      .attr('data-inset', 'true')
      .attr('data-theme', 'd')
      .attr('data-divider-theme', 'c')
      .append($('<li>').attr('data-role', 'list-divider')
              .text('Anonymizer (PS3.15)'))
      .append($('<li>').attr('data-icon', 'star').append(
        $('<a>').attr('href', '#').attr('id', 'oa-' + page + '-anonymize')
          .attr('title', 'Anonymize with the anonymizer plugin\'s ' +
                'default profile into a new ' + page)
          .text('Anonymize')))
      .append($('<li>').attr('data-icon', 'plus').append(
        $('<a>').attr('href', '#').attr('id', 'oa-' + page + '-add-to-list')
          .attr('title', 'Remember this ' + page + ' for the anonymizer\'s ' +
                'page, to anonymize several at once')
          .text('Add to anonymization list')));
    var status = $('<p>')
      .attr('id', 'oa-' + page + '-status')
      .attr('role', 'status')
      .attr('aria-live', 'polite')
      .css({ margin: '0 0 1em 0', 'word-wrap': 'break-word' })
      .hide();
    var copy = $('<p>')
      .attr('id', 'oa-' + page + '-copy')
      .attr('data-oa-kind', 'copy')
      .css({ margin: '0 0 1em 0', color: '#8a5a00', 'word-wrap': 'break-word' })
      .hide();
    var anchor = $(PAGES[page].before);
    if (anchor.length) {
      list.insertBefore(anchor);
      copy.insertBefore(anchor);
      status.insertBefore(anchor);
    } else {
      // Another Orthanc Explorer layout: at the end of the content.
      $('#' + page + ' [data-role="content"]').first().append(list, copy,
                                                               status);
    }
  }

  $.each(PAGES, function (page) {
    // Before jQuery Mobile enhances the page, so the list is styled too.
    $(document).on('pagebeforecreate', '#' + page, function () {
      if ($('#oa-' + page + '-anonymizer').length === 0) {
        createButtons(page);
      }
    });
    // The same page object serves every patient (study): forget the
    // message about the previous one.
    $(document).on('pagebeforeshow', '#' + page, function () {
      clearStatus(page);
      showCopy(page);
    });
    $(document).on('click', '#oa-' + page + '-anonymize', function (e) {
      e.preventDefault();
      anonymize(page, false);
    });
    $(document).on('click', '#oa-' + page + '-force', function (e) {
      e.preventDefault();
      anonymize(page, true);
    });
    $(document).on('click', '#oa-' + page + '-add-to-list', function (e) {
      e.preventDefault();
      addCurrentToList(page);
    });
  });
}(jQuery));
