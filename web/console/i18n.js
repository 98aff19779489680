// Every visible string in English and German, plus locale-aware dates, times and money.

const en = {
  'app.name': 'Switchboard',
  'lang.label': 'Language',
  'lang.en': 'English',
  'lang.de': 'Deutsch',
  'login.title': 'Sign in to Switchboard',
  'login.lead': 'The service desk for every channel.',
  'login.email': 'Email',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.busy': 'Signing in…',
  'login.expired': 'Your session has ended. Please sign in again.',
  'header.me': 'Signed in as {name}',
  'header.help': 'Keyboard shortcuts',
  'header.logout': 'Sign out',
  'conn.connecting': 'Connecting…',
  'conn.reconnecting': 'Reconnecting… Live updates are paused.',
  'errors.dismiss': 'Dismiss',
  'errors.label': 'Errors',
  'problem.network': 'The server cannot be reached. Check your connection and try again.',
  'problem.bad_credentials': 'Wrong email or password.',
  'problem.rate_limited': 'Too many sign-in attempts. Wait a minute and try again.',
  'problem.generic': 'Something went wrong ({status}).',
  'problem.live': 'Live connection: {detail}',
  'app.loading': 'Loading…',
  'app.failed': 'Switchboard could not start.',
  'app.retry': 'Try again',
  'queue.label': 'Queues',
  'queue.views': 'Queue views',
  'view.unassigned': 'Unassigned',
  'view.mine': 'Mine',
  'view.teams': 'My teams',
  'view.open': 'All open',
  'view.channel': 'By channel',
  'queue.chooseChannel': 'Choose a channel',
  'queue.count': '{count} open tickets',
  'queue.empty': 'No open tickets here.',
  'queue.loadMore': 'Load more',
  'queue.loading': 'Loading tickets…',
  'queue.failed': 'The tickets could not be loaded.',
  'queue.list': 'Tickets: {view}',
  'queue.fresh': 'new',
  'announce.new': 'New ticket #{number}: {subject}',
  'announce.message': 'New message on ticket #{number}',
  'channel.email': 'Email',
  'channel.chat': 'Chat',
  'channel.whatsapp': 'WhatsApp',
  'channel.telegram': 'Telegram',
  'channel.sms': 'SMS',
  'channel.voice': 'Phone',
  'channel.api': 'API',
  'status.new': 'New',
  'status.open': 'Open',
  'status.pending': 'Pending',
  'status.resolved': 'Resolved',
  'status.closed': 'Closed',
  'priority.low': 'Low',
  'priority.normal': 'Normal',
  'priority.high': 'High',
  'priority.urgent': 'Urgent',
  'kind.question': 'Question',
  'kind.problem': 'Problem',
  'kind.complaint': 'Complaint',
  'kind.praise': 'Praise',
  'kind.suggestion': 'Suggestion',
  'ticket.label': 'Ticket',
  'ticket.empty': 'Select a ticket from the queue.',
  'ticket.emptyHint': 'Press ? for keyboard shortcuts.',
  'ticket.loading': 'Loading ticket…',
  'ticket.status': 'Status',
  'ticket.priority': 'Priority',
  'ticket.kind': 'Kind',
  'ticket.assignee': 'Assignee',
  'ticket.team': 'Team',
  'ticket.unassigned': 'Unassigned',
  'ticket.noTeam': 'No team',
  'ticket.assignMe': 'Assign to me',
  'ticket.resolve': 'Resolve',
  'ticket.opened': 'Opened {date}',
  'ticket.previous': 'Follows an earlier ticket',
  'ticket.timeline': 'Conversation',
  'ticket.editSubject': 'Edit subject',
  'ticket.subject': 'Subject',
  'ticket.saved': 'Saved.',
  'ticket.noSubject': '(no subject)',
  'ticket.noMessages': 'No messages yet.',
  'ticket.resolved': 'Ticket #{number} resolved.',
  'ticket.assigned': 'Ticket #{number} assigned to you.',
  'ticket.customerTyping': 'Customer is typing…',
  'collision.viewing.one': '{names} is viewing this ticket',
  'collision.viewing.many': '{names} are viewing this ticket',
  'collision.typing.one': '{names} is typing…',
  'collision.typing.many': '{names} are typing…',
  'message.customer': 'Customer',
  'message.note': 'Internal note',
  'message.formatted': 'Formatted',
  'message.htmlTitle': 'Formatted message, shown without scripts',
  'message.attachments': 'Attachments',
  'message.automatic': 'Automatic answer',
  'message.deliveryError': 'Reason: {error}',
  'mail.addresses': 'Mail addresses',
  'mail.from': 'From',
  'mail.via': 'via {agent}',
  'mail.replyTo': 'Reply to',
  'mail.to': 'To',
  'mail.cc': 'Cc',
  'delivery.received': 'Received',
  'delivery.queued': 'Queued',
  'delivery.sent': 'Sent',
  'delivery.delivered': 'Delivered',
  'delivery.read': 'Read',
  'delivery.failed': 'Not delivered',
  'delivery.none': '',
  'actor.system': 'System',
  'actor.token': 'An integration',
  'actor.contact': 'The customer',
  'actor.agent': 'Agent {id}',
  'event.status': '{actor} changed the status from {from} to {to}',
  'event.priority': '{actor} changed the priority from {from} to {to}',
  'event.kind': '{actor} changed the kind from {from} to {to}',
  'event.subject': '{actor} renamed the ticket to “{to}”',
  'event.assignedAgent': '{actor} assigned the ticket to {to}',
  'event.unassignedAgent': '{actor} removed the assignee',
  'event.took': '{actor} took the ticket',
  'event.assignedTeam': '{actor} moved the ticket to team {to}',
  'event.unassignedTeam': '{actor} removed the team',
  'event.reopened': 'A new message reopened the ticket',
  'event.contactMerged': '{actor} merged the customer’s contact records',
  'event.other': '{actor}: {kind}',
  'composer.modes': 'Write',
  'composer.reply': 'Reply',
  'composer.note': 'Internal note',
  'composer.replyVia': 'Reply via {channel}',
  'composer.noteLabel': 'Internal note, only agents see it',
  'composer.send': 'Send',
  'composer.addNote': 'Add note',
  'composer.sendPending': 'Send & set pending',
  'composer.hint': '{key}+Enter sends',
  'composer.sending': 'Sending…',
  'composer.empty': 'Write a message first.',
  'composer.sent': 'Reply sent.',
  'composer.noteAdded': 'Note added.',
  'composer.attach': 'Attach files',
  'composer.files': 'Files to send',
  'composer.removeFile': 'Remove {name}',
  'composer.uploading': 'Uploading…',
  'composer.tooLarge': 'too large to send',
  'composer.uploadFailed': 'Not uploaded: {reason}',
  'composer.tooMany': 'at most {count} files per reply',
  'composer.waitUploads': 'Wait until the files are uploaded.',
  'composer.fileAdded': '{name} is attached.',
  'composer.fileRemoved': '{name} removed.',
  'contact.label': 'Contact',
  'contact.loading': 'Loading contact…',
  'contact.unknown': 'Unknown contact',
  'contact.name': 'Name',
  'contact.organization': 'Organization',
  'contact.noOrganization': 'No organization',
  'contact.edit': 'Edit',
  'contact.editName': 'Edit name',
  'contact.editOrganization': 'Edit organization',
  'contact.save': 'Save',
  'contact.cancel': 'Cancel',
  'contact.saved': 'Saved.',
  'contact.identities': 'Identities',
  'contact.noIdentities': 'No identities.',
  'contact.addIdentity': 'Add identity',
  'contact.identityKind': 'Kind',
  'contact.identityValue': 'Address or number',
  'contact.add': 'Add',
  'identity.email': 'Email',
  'identity.phone': 'Phone',
  'identity.telegram': 'Telegram',
  'identity.visitor': 'Chat visitor',
  'identity.shop': 'Shop customer',
  'identity.verified': 'verified',
  'identity.unverified': 'not verified',
  'contact.tags': 'Tags',
  'contact.noTags': 'No tags yet.',
  'contact.newTag': 'New tag',
  'contact.addTag': 'Add tag',
  'contact.removeTag': 'Remove tag {tag}',
  'contact.notes': 'Notes',
  'contact.saveNotes': 'Save notes',
  'contact.value': 'Customer value',
  'value.lifetime': 'Lifetime value',
  'value.orders': 'Orders',
  'value.lastOrder': 'Last order',
  'value.firstOrder': 'Customer since',
  'value.none': 'No orders yet.',
  'contact.orders': 'Purchase history',
  'order.label': 'Order {number}',
  'order.status': 'Status: {status}',
  'order.total': 'Total',
  'order.showAll': 'Show all {count} orders',
  'contact.tickets': 'Earlier tickets',
  'contact.noTickets': 'No earlier tickets.',
  'contact.merged': 'This contact was merged into another one.',
  'merge.title': 'Merge into existing contact',
  'merge.explain': 'Moves this contact’s identities and tickets to an existing contact.',
  'merge.by': 'Find by',
  'merge.value': 'Email or phone of the existing contact',
  'merge.find': 'Find',
  'merge.found': 'Found: {name}',
  'merge.confirm': 'Merge into {name}',
  'merge.same': 'That is this contact.',
  'merge.notFound': 'No contact has that address or number.',
  'merge.done': 'Contacts merged.',
  'calls.nav': 'Calls',
  'calls.navLabel': 'Caller log',
  'call.stack': 'Phone calls',
  'call.incoming': 'Incoming call from {name}',
  'call.missedFrom': 'Missed call from {name}',
  'call.missed': 'Missed call',
  'call.busyMissed': 'Missed call (line busy)',
  'call.callback': 'Call-back ticket #{number}',
  'call.callbackLoading': 'Call-back ticket',
  'call.number': 'Number',
  'call.queue': 'Queue {queue}',
  'call.started': 'Since {time}',
  'call.newCaller': 'This number is not in your contacts yet.',
  'call.lastOrders': 'Last orders',
  'call.openTickets': 'Open tickets',
  'call.noOpenTickets': 'No open tickets.',
  'call.openContact': 'Open contact',
  'call.createContact': 'Create contact',
  'call.creating': 'Creating…',
  'call.created': 'Contact created for {number}.',
  'call.dismiss': 'Dismiss',
  'call.dismissLabel': 'Dismiss the call card for {name}',
  'call.anonymous': 'Anonymous caller',
  'callstatus.ringing': 'Ringing',
  'callstatus.talking': 'Talking',
  'callstatus.answered': 'Answered',
  'callstatus.missed': 'Missed',
  'callstatus.rejected': 'Rejected',
  'callstatus.busy': 'Busy',
  'direction.in': 'Incoming',
  'direction.out': 'Outgoing',
  'calllog.title': 'Recent calls',
  'calllog.time': 'Time',
  'calllog.number': 'Number',
  'calllog.contact': 'Contact',
  'calllog.status': 'Status',
  'calllog.waiting': 'Waiting',
  'calllog.talking': 'Talking',
  'calllog.ticket': 'Call-back',
  'calllog.empty': 'No calls yet.',
  'calllog.loading': 'Loading calls…',
  'calllog.failed': 'The calls could not be loaded.',
  'calllog.refresh': 'Refresh',
  'calllog.showContact': 'Show {name} in the contact panel',
  'presence.label': 'Online',
  'presence.you': '(you)',
  'presence.nobody': 'Nobody is online.',
  'help.title': 'Keyboard shortcuts',
  'help.close': 'Close',
  'help.note': 'Shortcuts are off while you type, except {key}+Enter.',
  'shortcut.move': 'Next / previous ticket in the queue',
  'shortcut.open': 'Open the selected ticket',
  'shortcut.reply': 'Write a reply',
  'shortcut.note': 'Write an internal note',
  'shortcut.assign': 'Assign the ticket to me',
  'shortcut.resolve': 'Resolve the ticket',
  'shortcut.send': 'Send from the composer',
  'shortcut.help': 'Show this help',
  'shortcut.escape': 'Close a dialog or a call card, leave a text field',
  'time.now': 'just now',
  'key.or': 'or',
};

const de = {
  'app.name': 'Switchboard',
  'lang.label': 'Sprache',
  'lang.en': 'English',
  'lang.de': 'Deutsch',
  'login.title': 'Bei Switchboard anmelden',
  'login.lead': 'Der Kundenservice für alle Kanäle.',
  'login.email': 'E-Mail',
  'login.password': 'Passwort',
  'login.submit': 'Anmelden',
  'login.busy': 'Anmeldung läuft…',
  'login.expired': 'Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.',
  'header.me': 'Angemeldet als {name}',
  'header.help': 'Tastenkürzel',
  'header.logout': 'Abmelden',
  'conn.connecting': 'Verbinde…',
  'conn.reconnecting': 'Verbindung wird wiederhergestellt… Live-Aktualisierungen pausieren.',
  'errors.dismiss': 'Schließen',
  'errors.label': 'Fehler',
  'problem.network': 'Der Server ist nicht erreichbar. Prüfen Sie die Verbindung und versuchen Sie es erneut.',
  'problem.bad_credentials': 'E-Mail oder Passwort ist falsch.',
  'problem.rate_limited': 'Zu viele Anmeldeversuche. Bitte warten Sie eine Minute.',
  'problem.generic': 'Etwas ist schiefgegangen ({status}).',
  'problem.live': 'Live-Verbindung: {detail}',
  'app.loading': 'Wird geladen…',
  'app.failed': 'Switchboard konnte nicht starten.',
  'app.retry': 'Erneut versuchen',
  'queue.label': 'Warteschlangen',
  'queue.views': 'Ansichten',
  'view.unassigned': 'Nicht zugewiesen',
  'view.mine': 'Meine',
  'view.teams': 'Meine Teams',
  'view.open': 'Alle offenen',
  'view.channel': 'Nach Kanal',
  'queue.chooseChannel': 'Kanal wählen',
  'queue.count': '{count} offene Tickets',
  'queue.empty': 'Hier gibt es keine offenen Tickets.',
  'queue.loadMore': 'Mehr laden',
  'queue.loading': 'Tickets werden geladen…',
  'queue.failed': 'Die Tickets konnten nicht geladen werden.',
  'queue.list': 'Tickets: {view}',
  'queue.fresh': 'neu',
  'announce.new': 'Neues Ticket #{number}: {subject}',
  'announce.message': 'Neue Nachricht in Ticket #{number}',
  'channel.email': 'E-Mail',
  'channel.chat': 'Chat',
  'channel.whatsapp': 'WhatsApp',
  'channel.telegram': 'Telegram',
  'channel.sms': 'SMS',
  'channel.voice': 'Telefon',
  'channel.api': 'API',
  'status.new': 'Neu',
  'status.open': 'Offen',
  'status.pending': 'Wartend',
  'status.resolved': 'Gelöst',
  'status.closed': 'Geschlossen',
  'priority.low': 'Niedrig',
  'priority.normal': 'Normal',
  'priority.high': 'Hoch',
  'priority.urgent': 'Dringend',
  'kind.question': 'Frage',
  'kind.problem': 'Problem',
  'kind.complaint': 'Beschwerde',
  'kind.praise': 'Lob',
  'kind.suggestion': 'Vorschlag',
  'ticket.label': 'Ticket',
  'ticket.empty': 'Wählen Sie ein Ticket aus der Warteschlange.',
  'ticket.emptyHint': 'Mit ? sehen Sie die Tastenkürzel.',
  'ticket.loading': 'Ticket wird geladen…',
  'ticket.status': 'Status',
  'ticket.priority': 'Priorität',
  'ticket.kind': 'Art',
  'ticket.assignee': 'Bearbeiter',
  'ticket.team': 'Team',
  'ticket.unassigned': 'Nicht zugewiesen',
  'ticket.noTeam': 'Kein Team',
  'ticket.assignMe': 'Mir zuweisen',
  'ticket.resolve': 'Lösen',
  'ticket.opened': 'Eröffnet {date}',
  'ticket.previous': 'Folgt auf ein früheres Ticket',
  'ticket.timeline': 'Verlauf',
  'ticket.editSubject': 'Betreff bearbeiten',
  'ticket.subject': 'Betreff',
  'ticket.saved': 'Gespeichert.',
  'ticket.noSubject': '(kein Betreff)',
  'ticket.noMessages': 'Noch keine Nachrichten.',
  'ticket.resolved': 'Ticket #{number} gelöst.',
  'ticket.assigned': 'Ticket #{number} ist Ihnen zugewiesen.',
  'ticket.customerTyping': 'Kunde schreibt…',
  'collision.viewing.one': '{names} sieht sich dieses Ticket an',
  'collision.viewing.many': '{names} sehen sich dieses Ticket an',
  'collision.typing.one': '{names} schreibt…',
  'collision.typing.many': '{names} schreiben…',
  'message.customer': 'Kunde',
  'message.note': 'Interne Notiz',
  'message.formatted': 'Formatiert',
  'message.htmlTitle': 'Formatierte Nachricht, ohne Skripte angezeigt',
  'message.attachments': 'Anhänge',
  'message.automatic': 'Automatische Antwort',
  'message.deliveryError': 'Grund: {error}',
  'mail.addresses': 'E-Mail-Adressen',
  'mail.from': 'Von',
  'mail.via': 'weitergeleitet von {agent}',
  'mail.replyTo': 'Antwort an',
  'mail.to': 'An',
  'mail.cc': 'Cc',
  'delivery.received': 'Empfangen',
  'delivery.queued': 'In Warteschlange',
  'delivery.sent': 'Gesendet',
  'delivery.delivered': 'Zugestellt',
  'delivery.read': 'Gelesen',
  'delivery.failed': 'Nicht zugestellt',
  'delivery.none': '',
  'actor.system': 'Das System',
  'actor.token': 'Eine Integration',
  'actor.contact': 'Der Kunde',
  'actor.agent': 'Mitarbeiter {id}',
  'event.status': '{actor} hat den Status von {from} auf {to} geändert',
  'event.priority': '{actor} hat die Priorität von {from} auf {to} geändert',
  'event.kind': '{actor} hat die Art von {from} auf {to} geändert',
  'event.subject': '{actor} hat den Betreff in „{to}“ geändert',
  'event.assignedAgent': '{actor} hat das Ticket {to} zugewiesen',
  'event.unassignedAgent': '{actor} hat die Zuweisung entfernt',
  'event.took': '{actor} hat das Ticket übernommen',
  'event.assignedTeam': '{actor} hat das Ticket an Team {to} übergeben',
  'event.unassignedTeam': '{actor} hat das Team entfernt',
  'event.reopened': 'Eine neue Nachricht hat das Ticket wieder geöffnet',
  'event.contactMerged': '{actor} hat Kontakte des Kunden zusammengeführt',
  'event.other': '{actor}: {kind}',
  'composer.modes': 'Schreiben',
  'composer.reply': 'Antwort',
  'composer.note': 'Interne Notiz',
  'composer.replyVia': 'Antwort per {channel}',
  'composer.noteLabel': 'Interne Notiz, nur für Mitarbeiter sichtbar',
  'composer.send': 'Senden',
  'composer.addNote': 'Notiz speichern',
  'composer.sendPending': 'Senden & auf wartend setzen',
  'composer.hint': '{key}+Enter sendet',
  'composer.sending': 'Wird gesendet…',
  'composer.empty': 'Bitte zuerst eine Nachricht schreiben.',
  'composer.sent': 'Antwort gesendet.',
  'composer.noteAdded': 'Notiz gespeichert.',
  'composer.attach': 'Dateien anhängen',
  'composer.files': 'Anhänge zum Senden',
  'composer.removeFile': '{name} entfernen',
  'composer.uploading': 'Wird hochgeladen…',
  'composer.tooLarge': 'zu groß zum Senden',
  'composer.uploadFailed': 'Nicht hochgeladen: {reason}',
  'composer.tooMany': 'höchstens {count} Dateien pro Antwort',
  'composer.waitUploads': 'Bitte warten, bis die Dateien hochgeladen sind.',
  'composer.fileAdded': '{name} ist angehängt.',
  'composer.fileRemoved': '{name} entfernt.',
  'contact.label': 'Kontakt',
  'contact.loading': 'Kontakt wird geladen…',
  'contact.unknown': 'Unbekannter Kontakt',
  'contact.name': 'Name',
  'contact.organization': 'Organisation',
  'contact.noOrganization': 'Keine Organisation',
  'contact.edit': 'Bearbeiten',
  'contact.editName': 'Name bearbeiten',
  'contact.editOrganization': 'Organisation bearbeiten',
  'contact.save': 'Speichern',
  'contact.cancel': 'Abbrechen',
  'contact.saved': 'Gespeichert.',
  'contact.identities': 'Identitäten',
  'contact.noIdentities': 'Keine Identitäten.',
  'contact.addIdentity': 'Identität hinzufügen',
  'contact.identityKind': 'Art',
  'contact.identityValue': 'Adresse oder Nummer',
  'contact.add': 'Hinzufügen',
  'identity.email': 'E-Mail',
  'identity.phone': 'Telefon',
  'identity.telegram': 'Telegram',
  'identity.visitor': 'Chat-Besucher',
  'identity.shop': 'Shop-Kunde',
  'identity.verified': 'bestätigt',
  'identity.unverified': 'nicht bestätigt',
  'contact.tags': 'Schlagwörter',
  'contact.noTags': 'Noch keine Schlagwörter.',
  'contact.newTag': 'Neues Schlagwort',
  'contact.addTag': 'Schlagwort hinzufügen',
  'contact.removeTag': 'Schlagwort {tag} entfernen',
  'contact.notes': 'Notizen',
  'contact.saveNotes': 'Notizen speichern',
  'contact.value': 'Kundenwert',
  'value.lifetime': 'Umsatz gesamt',
  'value.orders': 'Bestellungen',
  'value.lastOrder': 'Letzte Bestellung',
  'value.firstOrder': 'Kunde seit',
  'value.none': 'Noch keine Bestellungen.',
  'contact.orders': 'Bestellhistorie',
  'order.label': 'Bestellung {number}',
  'order.status': 'Status: {status}',
  'order.total': 'Summe',
  'order.showAll': 'Alle {count} Bestellungen zeigen',
  'contact.tickets': 'Frühere Tickets',
  'contact.noTickets': 'Keine früheren Tickets.',
  'contact.merged': 'Dieser Kontakt wurde mit einem anderen zusammengeführt.',
  'merge.title': 'Mit bestehendem Kontakt zusammenführen',
  'merge.explain': 'Verschiebt die Identitäten und Tickets dieses Kontakts zu einem bestehenden Kontakt.',
  'merge.by': 'Suchen nach',
  'merge.value': 'E-Mail oder Telefon des bestehenden Kontakts',
  'merge.find': 'Suchen',
  'merge.found': 'Gefunden: {name}',
  'merge.confirm': 'Mit {name} zusammenführen',
  'merge.same': 'Das ist dieser Kontakt.',
  'merge.notFound': 'Kein Kontakt hat diese Adresse oder Nummer.',
  'merge.done': 'Kontakte zusammengeführt.',
  'calls.nav': 'Anrufe',
  'calls.navLabel': 'Anrufliste',
  'call.stack': 'Telefonanrufe',
  'call.incoming': 'Eingehender Anruf von {name}',
  'call.missedFrom': 'Verpasster Anruf von {name}',
  'call.missed': 'Verpasster Anruf',
  'call.busyMissed': 'Verpasster Anruf (besetzt)',
  'call.callback': 'Rückruf-Ticket #{number}',
  'call.callbackLoading': 'Rückruf-Ticket',
  'call.number': 'Nummer',
  'call.queue': 'Warteschlange {queue}',
  'call.started': 'Seit {time}',
  'call.newCaller': 'Diese Nummer ist noch nicht in Ihren Kontakten.',
  'call.lastOrders': 'Letzte Bestellungen',
  'call.openTickets': 'Offene Tickets',
  'call.noOpenTickets': 'Keine offenen Tickets.',
  'call.openContact': 'Kontakt öffnen',
  'call.createContact': 'Kontakt anlegen',
  'call.creating': 'Wird angelegt…',
  'call.created': 'Kontakt für {number} angelegt.',
  'call.dismiss': 'Ausblenden',
  'call.dismissLabel': 'Anrufkarte von {name} ausblenden',
  'call.anonymous': 'Anonymer Anrufer',
  'callstatus.ringing': 'Klingelt',
  'callstatus.talking': 'Im Gespräch',
  'callstatus.answered': 'Angenommen',
  'callstatus.missed': 'Verpasst',
  'callstatus.rejected': 'Abgewiesen',
  'callstatus.busy': 'Besetzt',
  'direction.in': 'Eingehend',
  'direction.out': 'Ausgehend',
  'calllog.title': 'Letzte Anrufe',
  'calllog.time': 'Zeit',
  'calllog.number': 'Nummer',
  'calllog.contact': 'Kontakt',
  'calllog.status': 'Status',
  'calllog.waiting': 'Wartezeit',
  'calllog.talking': 'Gesprächsdauer',
  'calllog.ticket': 'Rückruf',
  'calllog.empty': 'Noch keine Anrufe.',
  'calllog.loading': 'Anrufe werden geladen…',
  'calllog.failed': 'Die Anrufe konnten nicht geladen werden.',
  'calllog.refresh': 'Aktualisieren',
  'calllog.showContact': '{name} im Kontaktbereich zeigen',
  'presence.label': 'Online',
  'presence.you': '(Sie)',
  'presence.nobody': 'Niemand ist online.',
  'help.title': 'Tastenkürzel',
  'help.close': 'Schließen',
  'help.note': 'Beim Schreiben sind Tastenkürzel aus, außer {key}+Enter.',
  'shortcut.move': 'Nächstes / vorheriges Ticket in der Warteschlange',
  'shortcut.open': 'Ausgewähltes Ticket öffnen',
  'shortcut.reply': 'Antwort schreiben',
  'shortcut.note': 'Interne Notiz schreiben',
  'shortcut.assign': 'Ticket mir zuweisen',
  'shortcut.resolve': 'Ticket lösen',
  'shortcut.send': 'Aus dem Eingabefeld senden',
  'shortcut.help': 'Diese Hilfe zeigen',
  'shortcut.escape': 'Dialog oder Anrufkarte schließen, Textfeld verlassen',
  'time.now': 'gerade eben',
  'key.or': 'oder',
};

const dictionaries = { en, de };
export const LANGUAGES = Object.keys(dictionaries);
const STORAGE_KEY = 'sb.lang';
const listeners = new Set();
let lang = initialLanguage();

function initialLanguage() {
  let stored = null;
  try { stored = localStorage.getItem(STORAGE_KEY); } catch { /* storage may be off */ }
  if (stored && dictionaries[stored]) return stored;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return browser.toLowerCase().startsWith('de') ? 'de' : 'en';
}

export function getLang() {
  return lang;
}

/** Switches the language, remembers it, and tells every subscriber to re-render. */
export function setLang(next) {
  if (!dictionaries[next] || next === lang) return;
  lang = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* storage may be off */ }
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

/** Subscribes to language changes; returns the unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Looks up a string and fills its `{placeholders}`. */
export function t(key, params = {}) {
  let text = dictionaries[lang][key] ?? en[key];
  if (text === undefined) {
    console.warn('missing string', key);
    text = key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** The translated word for an enum value (status, channel, …), or the raw value. */
export function label(group, value) {
  const key = `${group}.${value}`;
  return key in en ? t(key) : String(value ?? '');
}

export const modKey = () => (/Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl');

const cache = new Map();
function cached(kind, options, make) {
  const key = `${lang}|${kind}|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key);
}

function toDate(value) {
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDateTime(value) {
  const d = toDate(value);
  if (!d) return '';
  return cached('dt', 'medium-short', () => new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' })).format(d);
}

/** The time of day alone, for today's events. */
export function formatTime(value) {
  const d = toDate(value);
  if (!d) return '';
  return cached('t', 'short', () => new Intl.DateTimeFormat(lang, { timeStyle: 'short' })).format(d);
}

export function formatDate(value) {
  const d = toDate(value);
  if (!d) return '';
  return cached('d', 'medium', () => new Intl.DateTimeFormat(lang, { dateStyle: 'medium' })).format(d);
}

/** "5 min ago", "yesterday"; falls back to the date after a week. */
export function formatRelative(value, now = Date.now()) {
  const d = toDate(value);
  if (!d) return '';
  const seconds = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return t('time.now');
  const rtf = cached('rt', 'short', () => new Intl.RelativeTimeFormat(lang, { numeric: 'auto', style: 'short' }));
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  if (abs < 7 * 86400) return rtf.format(Math.round(seconds / 86400), 'day');
  return formatDate(d);
}

const ZERO_DECIMALS = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const THREE_DECIMALS = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);

/** Formats integer minor units (`cents`) of a currency. */
export function formatMoney(cents, currency) {
  const code = String(currency || '').toUpperCase();
  const digits = ZERO_DECIMALS.has(code) ? 0 : THREE_DECIMALS.has(code) ? 3 : 2;
  const amount = Number(cents) / 10 ** digits;
  try {
    return cached('money', code, () => new Intl.NumberFormat(lang, { style: 'currency', currency: code, minimumFractionDigits: digits, maximumFractionDigits: digits })).format(amount);
  } catch {
    return `${amount.toFixed(digits)} ${code}`;
  }
}

export function formatNumber(n) {
  return cached('num', '', () => new Intl.NumberFormat(lang)).format(n);
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let value = Number(size) || 0;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
  return cached('bytes', units[i], () => new Intl.NumberFormat(lang, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: i ? 1 : 0 })).format(value);
}

/** "Sam, Lea and Tom" in the current language. */
export function formatList(items) {
  return cached('list', '', () => new Intl.ListFormat(lang, { type: 'conjunction' })).format(items);
}

document.documentElement.lang = lang;
