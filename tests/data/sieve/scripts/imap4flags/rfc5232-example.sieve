require ["imap4flags", "fileinto", "variables"];
if size :over 1M {
    addflag "MyFlags" "Big";
    if header :is "From" "boss@company.example.com" {
        addflag "MyFlags" "\\Flagged";
    }
    fileinto :flags "${MyFlags}" "Big messages";
}
if header :contains "From" "grace@example.net" {
    addflag "MyFlags" ["\\Answered", "$MDNSent"];
    fileinto :flags "${MyFlags}" "GrandMa";
}
if header :is "Sender" "owner-acme-users@lists.acme.example" {
    set "MyFlags" "\\Flagged $Work";
    keep :flags "${MyFlags}";
}
