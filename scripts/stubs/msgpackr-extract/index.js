// msgpackr treats a failing require of its optional accelerator as "not installed".
throw new Error('msgpackr-extract is stubbed out; msgpackr uses its JavaScript decoder');
