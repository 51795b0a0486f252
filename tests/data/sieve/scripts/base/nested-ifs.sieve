require "fileinto";
if exists "from" {
    if exists "to" {
        if header :contains "subject" "e" {
            fileinto "deep-e";
        } elsif header :contains "subject" "a" {
            fileinto "deep-a";
        } else {
            fileinto "deep-other";
        }
    } else {
        fileinto "no-to";
    }
}
