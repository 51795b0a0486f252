require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto "inbox-exists"; }
if mailboxexists "Nope" { fileinto "nope-exists"; }
if mailboxexists ["INBOX", "Nope"] { fileinto "both"; }
